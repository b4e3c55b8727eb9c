using System.Runtime.InteropServices;
using Xunit;

namespace Weft.TestSupport;

/// <summary>
/// A test that needs root: it creates network namespaces, links and nftables tables (always inside
/// throwaway namespaces named <c>wefttest-*</c>, never in the machine's own namespace).
/// Skipped, with the reason, when the test process is not root. CI runs as root, so there they run.
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Privileges.IsRoot)
        {
            Skip = "needs root (creates network namespaces); run the tests as root: sudo ./test.sh";
        }
    }
}

/// <summary>Theory variant of <see cref="RootFactAttribute"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!Privileges.IsRoot)
        {
            Skip = "needs root (creates network namespaces); run the tests as root: sudo ./test.sh";
        }
    }
}

public static partial class Privileges
{
    [LibraryImport("libc")]
    private static partial uint geteuid();

    public static bool IsRoot { get; } = geteuid() == 0;
}
