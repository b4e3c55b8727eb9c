using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

/// <summary>The result of a command the lab ran to completion.</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;
}

/// <summary>
/// Running programs for the lab: tools run to completion (ip, nsenter, weft-cni, weft-server init),
/// and long-lived daemons started inside a namespace, detached, with their pid recorded.
/// </summary>
public static partial class Host
{
    public static ToolResult Run(string exe, IEnumerable<string> args, string? stdin = null,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new CliException($"cannot start {exe}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(30)))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new CliException($"{exe} {string.Join(' ', psi.ArgumentList)} did not finish within {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds:0} s");
        }
        return new ToolResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Starts <paramref name="exe"/> inside the network namespace <paramref name="netns"/>, in its own
    /// session (Ctrl-C on the terminal does not reach it), stdin from /dev/null and output appended
    /// to <paramref name="log"/>. Equivalent to: setsid nsenter --net=/run/netns/NS -- EXE ARGS &gt;&gt;LOG 2&gt;&amp;1 &amp;
    /// Returns the daemon's pid (sh, setsid and nsenter all exec, so the pid is the program's).
    /// </summary>
    public static LabProcess Spawn(string netns, string exe, IReadOnlyList<string> args, string log)
    {
        var cmd = new StringBuilder("exec setsid nsenter --net=/run/netns/").Append(Quote(netns)).Append(" -- ").Append(Quote(exe));
        foreach (var a in args) cmd.Append(' ').Append(Quote(a));
        cmd.Append(" </dev/null >>").Append(Quote(log)).Append(" 2>&1");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(cmd.ToString());
        using var p = Process.Start(psi) ?? throw new CliException($"cannot start {exe}");
        var pid = p.Id;
        // The start time pins the pid: `down` kills only a process with this pid *and* this start time.
        // A process that is already gone has no start time: recording 0 would later match any process
        // that reuses the pid, so that is an error here, not a process to remember.
        var start = StartTicks(pid) ?? throw new CliException($"{Path.GetFileName(exe)} exited at once (see {log})");
        return new LabProcess(pid, start, Path.GetFileName(exe) + " " + string.Join(' ', args));
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks since boot); null when there is no such process.</summary>
    public static long? StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            return long.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>True when the recorded process is still the one we started (same pid, same start time) and not a zombie.</summary>
    public static bool IsAlive(LabProcess? p)
    {
        if (p is null) return false;
        var ticks = StartTicks(p.Pid);
        // Without a recorded start time the pid proves nothing: it may belong to another process by now.
        if (ticks is null || p.StartTicks == 0 || ticks != p.StartTicks) return false;
        try
        {
            var stat = File.ReadAllText($"/proc/{p.Pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException) { return false; }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    public static bool IsRoot => geteuid() == 0;

    private const int SIGTERM = 15, SIGKILL = 9;

    /// <summary>Stops the processes we started: SIGTERM, wait up to <paramref name="grace"/>, then SIGKILL. Only by recorded pid.</summary>
    public static void Stop(IEnumerable<LabProcess?> processes, TimeSpan grace)
    {
        var live = processes.Where(IsAlive).Select(p => p!).ToList();
        foreach (var p in live) kill(p.Pid, SIGTERM);
        var deadline = DateTime.UtcNow + grace;
        while (live.Any(IsAlive) && DateTime.UtcNow < deadline) Thread.Sleep(20);
        foreach (var p in live.Where(IsAlive)) kill(p.Pid, SIGKILL);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (live.Any(IsAlive) && DateTime.UtcNow < deadline) Thread.Sleep(20);
    }

    /// <summary>The directory holding the running <c>weft</c> binary, where its siblings (weft-server, weft-agent, weft-cni) live.</summary>
    public static string BinDir
    {
        get
        {
            if (Environment.GetEnvironmentVariable("WEFT_BIN") is { Length: > 0 } b) return b;
            var exe = Environment.ProcessPath ?? throw new CliException("cannot find the weft executable's path");
            // bin/weft is a symlink to bin/lib/weft/weft: the siblings are next to the link, i.e. in bin/.
            var dir = Path.GetDirectoryName(exe)!;
            var up = Path.GetFullPath(Path.Combine(dir, "..", ".."));
            if (Path.GetFileName(Path.GetDirectoryName(dir)) == "lib") return up;
            return dir;
        }
    }

    public static string Tool(string name)
    {
        var path = Path.Combine(BinDir, name);
        if (!File.Exists(path))
            throw new CliException($"{path} is missing", "build it first: ./build.sh (it puts weft, weft-server, weft-agent and weft-cni in bin/)");
        return path;
    }
}
