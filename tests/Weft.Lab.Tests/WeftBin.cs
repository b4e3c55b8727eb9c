using System.Diagnostics;
using Weft.TestSupport;

namespace Weft.Lab.Tests;

/// <summary>The output of one run of bin/weft.</summary>
public sealed record WeftRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the built <c>bin/weft</c> (from the repository root, found by walking up to Weft.slnx) with
/// its own CLI config file, so tests never touch the user's profiles.
/// </summary>
public sealed class WeftBin : IDisposable
{
    public static string RepoRoot => Repo.Root;

    public string ConfigFile { get; } = Path.Combine(Path.GetTempPath(), $"wefttest-cli-{Environment.ProcessId}-{Guid.NewGuid():N}.json");

    public static string Exe
    {
        get
        {
            var exe = Path.Combine(RepoRoot, "bin", "weft");
            if (!File.Exists(exe)) throw new InvalidOperationException($"{exe} is missing: run ./build.sh first");
            return exe;
        }
    }

    public WeftRun Run(params string[] args) => Run(TimeSpan.FromMinutes(3), args);

    public WeftRun Run(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(Exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["WEFT_CONFIG"] = ConfigFile;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"weft {string.Join(' ', args)} did not finish within {timeout}");
        }
        p.WaitForExit();
        return new WeftRun(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs and asserts exit 0, returning stdout.</summary>
    public string Ok(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, $"weft {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    public void Dispose()
    {
        try { File.Delete(ConfigFile); } catch (IOException) { }
    }
}

/// <summary>A lab with a unique name, removed with `weft lab down` when disposed (also when the test fails).</summary>
public sealed class TestLab : IDisposable
{
    public WeftBin Weft { get; } = new();
    public string Name { get; } = "t" + Guid.NewGuid().ToString("N")[..10];

    public string[] With(params string[] args) => [.. args, "--name", Name];

    public WeftRun Run(params string[] args) => Weft.Run(With(args));

    public string Ok(params string[] args) => Weft.Ok(With(args));

    public void Dispose()
    {
        try { Weft.Run("lab", "down", "--name", Name); }
        finally { Weft.Dispose(); }
    }
}
