namespace Weft.TestSupport;

/// <summary>The repository the tests and benchmarks run from: its root (the directory holding Weft.slnx) and bin/.</summary>
public static class Repo
{
    /// <summary>The repository root, found by walking up from the running assembly to Weft.slnx.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The path of a built executable under bin/ (built by ./build.sh).</summary>
    public static string Bin(string name) => Path.Combine(Root, "bin", name);

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Weft.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Weft.slnx) above " + AppContext.BaseDirectory);
    }
}
