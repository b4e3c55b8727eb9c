using System.Runtime.CompilerServices;

namespace Weft.Agent.Tests.Policy;

/// <summary>Golden files live in tests/Weft.Agent.Tests/Golden; set WEFT_UPDATE_GOLDEN=1 to rewrite them
/// from the current output (then review the diff before committing).</summary>
internal static class Golden
{
    public static void Assert(string name, string actual, [CallerFilePath] string caller = "")
    {
        var path = Path.Combine(Path.GetDirectoryName(caller)!, "..", "Golden", name);
        if (Environment.GetEnvironmentVariable("WEFT_UPDATE_GOLDEN") == "1") File.WriteAllText(path, actual);
        Xunit.Assert.Equal(File.ReadAllText(path), actual);
    }
}
