using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Weft.Linux;

namespace Weft.Bench;

/// <summary>
/// <c>weft-bench cni [--runs N]</c>: ADD and DEL latency of bin/weft-cni against the reference
/// <c>ptp</c> + <c>host-local</c> plugins (/usr/lib/cni), same machine, same run, same namespace setup:
/// a "host" namespace <c>weftbench-&lt;pid&gt;-host</c> where both plugins run, and a fresh container namespace per
/// run. Every plugin process is started from a thread inside the host namespace (no nsenter in the timing), with
/// posix_spawn and three pipes as runtimes start plugins (<see cref="LeanSpawn"/>); <c>/bin/cat</c> started the same way
/// gives the harness's floor.
/// Runs alternate between the two plugins so background load hits both alike. Before each ADD and after each
/// DEL the bench waits until weft-cni's background veth deletion (see docs/cni.md, "DEL") has finished, so
/// it never overlaps a measurement; DEL's figure is the time until the plugin returns. Also reports weft-cni's peak
/// RSS (GNU time's maximum resident set size over the ADD and DEL runs of a separate pass).
/// </summary>
public static class CniBench
{
    private const string RefPath = "/usr/lib/cni";

    public static int Run(string[] args)
    {
        var runs = 60;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length)
            {
                runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
        }

        var root = Weft.TestSupport.Repo.Root;
        var weft = Path.Combine(root, "bin", "weft-cni");
        if (!File.Exists(weft))
        {
            Console.Error.WriteLine("bin/weft-cni is missing: run ./build.sh first");
            return 1;
        }

        if (!File.Exists(Path.Combine(RefPath, "ptp")))
        {
            Console.Error.WriteLine($"{RefPath}/ptp is missing: apt-get install containernetworking-plugins");
            return 1;
        }

        var tmp = Directory.CreateTempSubdirectory("weft-bench-cni-").FullName;
        var prefix = $"weftbench-{System.Environment.ProcessId}";
        var created = new List<string>();
        NetNs? host = null;
        try
        {
            host = NetNs.Create($"{prefix}-host");
            created.Add(host.Name!);
            var weftConf = $$"""{"cniVersion":"1.1.0","name":"weft","type":"weft-cni","subnet":"10.255.12.0/24","mtu":1400,"stateDir":"{{tmp}}/state","dataDir":"{{tmp}}/data"}""";
            var refConf = $$$"""{"cniVersion":"1.0.0","name":"ref","type":"ptp","mtu":1400,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.255.13.0/24"}]],"dataDir":"{{{tmp}}}/host-local"}}""";
            var plugins = new[] { new Plugin("weft-cni", weft, weftConf), new Plugin("ptp+host-local", Path.Combine(RefPath, "ptp"), refConf) };
            using var hostNl = Netlink.Open(host);
            var times = plugins.ToDictionary(p => p.Name, _ => (Add: new List<double>(), Del: new List<double>()));
            var floor = new List<double>();

            // The whole measurement runs on one thread inside the host namespace, which starts every process (as a
            // runtime's long-lived thread would): no thread is created per run. One untimed warm-up round each
            // (page cache, first netns creation).
            host.Run(() =>
            {
                for (var i = -1; i < runs; i++)
                {
                    var order = i % 2 == 0 ? plugins : plugins.Reverse().ToArray();
                    foreach (var p in order)
                    {
                        var nsName = $"{prefix}-c{(i + 1).ToString(CultureInfo.InvariantCulture)}-{(p == plugins[0] ? "w" : "r")}";
                        using (NetNs.Create(nsName))
                        {
                        }

                        created.Add(nsName);
                        var id = $"bench{i + 1}";
                        Quiesce(hostNl);
                        var add = Spawn(p, "ADD", id, $"{NetNs.RunDir}/{nsName}");
                        var del = Spawn(p, "DEL", id, $"{NetNs.RunDir}/{nsName}");
                        Quiesce(hostNl);

                        // The floor, measured where it changes nothing for the plugins (the time from one namespace's
                        // deletion to the next ADD stays as it was: see docs/cni.md on the kernel's asynchronous
                        // namespace cleanup).
                        var cat = SpawnCat(p);
                        NetNs.TryDelete(nsName);
                        created.Remove(nsName);
                        if (i >= 0)
                        {
                            times[p.Name].Add.Add(add);
                            times[p.Name].Del.Add(del);
                            floor.Add(cat);
                        }
                    }
                }
            });

            var rss = host.Run(() => PeakRss(plugins[0], prefix, created, 10));
            var refRss = host.Run(() => PeakRss(plugins[1], prefix, created, 10));

            Console.WriteLine($"weft-bench cni: {runs} runs each, host namespace {host.Name}, plugins started from inside it; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            Console.WriteLine();
            Console.WriteLine($"{"plugin",-16} {"ADD median",11} {"ADD p90",9} {"DEL median",11} {"DEL p90",9} {"peak RSS",10}");
            foreach (var p in plugins)
            {
                var (a, d) = times[p.Name];
                Console.WriteLine($"{p.Name,-16} {Ms(Pct(a, 50)),11} {Ms(Pct(a, 90)),9} {Ms(Pct(d, 50)),11} {Ms(Pct(d, 90)),9} {(p == plugins[0] ? rss : refRss) / 1024.0,7:F1} MB");
            }

            var (wa, wd) = times[plugins[0].Name];
            var (ra, rd) = times[plugins[1].Name];
            var addRatio = Pct(wa, 50) / Pct(ra, 50);
            var delRatio = Pct(wd, 50) / Pct(rd, 50);
            Console.WriteLine();
            Console.WriteLine($"ADD median ratio weft/ref: {addRatio:F3}  (goal <= 0.30) {(addRatio <= 0.30 ? "met" : "NOT met")}");
            Console.WriteLine($"DEL median ratio weft/ref: {delRatio:F3}  (goal <= 0.20) {(delRatio <= 0.20 ? "met" : "NOT met")}");
            var f = Pct(floor, 50);
            Console.WriteLine($"harness floor (/bin/cat started the same way, median of {floor.Count}): {Ms(f)}; above it: ADD ratio {(Pct(wa, 50) - f) / (Pct(ra, 50) - f):F3}, DEL ratio {(Pct(wd, 50) - f) / (Pct(rd, 50) - f):F3}");
            Console.WriteLine($"ADD p90 ratio: {Pct(wa, 90) / Pct(ra, 90):F3}   DEL p90 ratio: {Pct(wd, 90) / Pct(rd, 90):F3}");
            Console.WriteLine($"weft-cni peak RSS: {rss / 1024.0:F1} MB (goal <= 20 MB) {(rss <= 20 * 1024 ? "met" : "NOT met")}");
            return 0;
        }
        finally
        {
            foreach (var n in created)
            {
                NetNs.TryDelete(n);
            }

            host?.Dispose();
            try
            {
                Directory.Delete(tmp, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// Waits until no <c>w-*</c> veth without an address (one a weft-cni DEL left for its background deletion)
    /// remains, so no measurement shares the kernel with the previous run's background work.
    /// </summary>
    private static void Quiesce(Netlink hostNl)
    {
        for (var i = 0; i < 500 && hostNl.LinkList().Any(l => l.Name.StartsWith("w-", StringComparison.Ordinal)
            && hostNl.AddrList(l.Index, System.Net.Sockets.AddressFamily.InterNetwork).Count == 0); i++)
        {
            Thread.Sleep(2);
        }
    }

    private sealed record Plugin(string Name, string File, string Conf);

    /// <summary>
    /// Runs one plugin command (from the calling thread, which is inside the host namespace); returns wall milliseconds, from just
    /// before the spawn until the exit status is read. Started as container runtimes start plugins (libcni's Go
    /// exec, containerd, podman: fork/exec with CLONE_VFORK, three pipes), through <see cref="LeanSpawn"/>;
    /// both plugins take this identical path.
    /// </summary>
    private static double Spawn(Plugin p, string command, string id, string netns, string? wrapper = null, StringBuilder? stderr = null)
    {
        string[] argv = wrapper is null ? [p.File] : [wrapper, "-f", "%M", p.File];
        var env = Environment();
        env["CNI_COMMAND"] = command;
        env["CNI_CONTAINERID"] = id;
        env["CNI_NETNS"] = netns;
        env["CNI_IFNAME"] = "eth0";
        env["CNI_PATH"] = RefPath;
        var r = LeanSpawn.Run(argv, [.. env.Select(kv => $"{kv.Key}={kv.Value}")], Encoding.UTF8.GetBytes(p.Conf));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{p.Name} {command} failed ({r.ExitCode}): {r.Stdout} {r.Stderr}");
        }

        stderr?.Append(r.Stderr);
        return r.Ms;
    }

    /// <summary>The harness's own cost: <c>/bin/cat</c> (config in, config out) started exactly as the plugins are.</summary>
    private static double SpawnCat(Plugin p)
    {
        var env = Environment();
        var r = LeanSpawn.Run(["/bin/cat"], [.. env.Select(kv => $"{kv.Key}={kv.Value}")], Encoding.UTF8.GetBytes(p.Conf));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"/bin/cat failed ({r.ExitCode}): {r.Stderr}");
        }

        return r.Ms;
    }

    private static Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry kv in System.Environment.GetEnvironmentVariables())
        {
            env[(string)kv.Key] = (string?)kv.Value ?? "";
        }

        return env;
    }

    private static long PeakRss(Plugin p, string prefix, List<string> created, int runs)
    {
        long max = 0;
        for (var i = 0; i < runs; i++)
        {
            var nsName = $"{prefix}-rss{i.ToString(CultureInfo.InvariantCulture)}";
            using (NetNs.Create(nsName))
            {
            }

            created.Add(nsName);
            foreach (var cmd in new[] { "ADD", "DEL" })
            {
                var err = new StringBuilder();
                Spawn(p, cmd, $"rss{i}", $"{NetNs.RunDir}/{nsName}", "/usr/bin/time", err);
                var last = err.ToString().Trim().Split('\n')[^1];
                max = Math.Max(max, long.Parse(last, CultureInfo.InvariantCulture));
            }

            NetNs.TryDelete(nsName);
            created.Remove(nsName);
        }

        return max;
    }

    private static double Pct(List<double> xs, int pct)
    {
        var s = xs.Order().ToArray();
        var idx = (int)Math.Ceiling(pct / 100.0 * s.Length) - 1;
        return s[Math.Clamp(idx, 0, s.Length - 1)];
    }

    private static string Ms(double ms) => ms.ToString("F2", CultureInfo.InvariantCulture) + " ms";
}

/// <summary>
/// Starts a process the way container runtimes start CNI plugins: posix_spawn (glibc: clone with CLONE_VM |
/// CLONE_VFORK, then execve), stdin/stdout/stderr on pipes; writes stdin and closes it, reads stdout and stderr to
/// EOF, then reaps the child with wait4. System.Diagnostics.Process costs ≈ 2.4 ms per start on the development VM
/// (its own fork helper, signal handling, stream objects), which would be measured as plugin time.
/// The child inherits the calling thread's network namespace.
/// </summary>
internal static unsafe partial class LeanSpawn
{
    public readonly record struct Result(int ExitCode, string Stdout, string Stderr, double Ms);

    private const int O_CLOEXEC = 0x80000;
    private const short POLLIN = 0x1;
    private const int EINTR = 4;

    public static Result Run(string[] argv, string[] envp, byte[] stdin)
    {
        var strings = new List<nint>();
        var argvP = (nint*)NativeMemory.AllocZeroed((nuint)(argv.Length + 1), (nuint)sizeof(nint));
        var envpP = (nint*)NativeMemory.AllocZeroed((nuint)(envp.Length + 1), (nuint)sizeof(nint));
        var actions = NativeMemory.AllocZeroed(256); // posix_spawn_file_actions_t is 80 bytes in glibc
        try
        {
            for (var i = 0; i < argv.Length; i++)
            {
                strings.Add(argvP[i] = Marshal.StringToCoTaskMemUTF8(argv[i]));
            }

            for (var i = 0; i < envp.Length; i++)
            {
                strings.Add(envpP[i] = Marshal.StringToCoTaskMemUTF8(envp[i]));
            }

            var output = new MemoryStream();
            var error = new MemoryStream();
            var buffer = new byte[65536];
            var start = Stopwatch.GetTimestamp();

            int* pin = stackalloc int[2];
            int* pout = stackalloc int[2];
            int* perr = stackalloc int[2];
            if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0)
            {
                throw new IOException($"pipe2: errno {Marshal.GetLastPInvokeError()}");
            }

            posix_spawn_file_actions_init(actions);
            posix_spawn_file_actions_adddup2(actions, pin[0], 0);
            posix_spawn_file_actions_adddup2(actions, pout[1], 1);
            posix_spawn_file_actions_adddup2(actions, perr[1], 2);
            int pid;
            var rc = posix_spawn(&pid, argvP[0], actions, null, argvP, envpP);
            posix_spawn_file_actions_destroy(actions);
            close(pin[0]);
            close(pout[1]);
            close(perr[1]);
            if (rc != 0)
            {
                close(pin[1]);
                close(pout[0]);
                close(perr[0]);
                throw new IOException($"posix_spawn {argv[0]}: errno {rc}");
            }

            fixed (byte* s = stdin)
            {
                var done = 0;
                while (done < stdin.Length)
                {
                    var n = write(pin[1], s + done, stdin.Length - done);
                    if (n > 0)
                    {
                        done += (int)n;
                    }
                    else if (Marshal.GetLastPInvokeError() != EINTR)
                    {
                        break; // the child closed its stdin (EPIPE): it reports what it wanted on stdout/stderr
                    }
                }
            }

            close(pin[1]);

            var fds = stackalloc PollFd[2];
            fds[0] = new PollFd { Fd = pout[0], Events = POLLIN };
            fds[1] = new PollFd { Fd = perr[0], Events = POLLIN };
            var open = 2;
            fixed (byte* b = buffer)
            {
                while (open > 0)
                {
                    if (poll(fds, 2, -1) < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == EINTR)
                        {
                            continue;
                        }

                        throw new IOException($"poll: errno {Marshal.GetLastPInvokeError()}");
                    }

                    for (var i = 0; i < 2; i++)
                    {
                        if (fds[i].Fd < 0 || fds[i].REvents == 0)
                        {
                            continue;
                        }

                        var n = read(fds[i].Fd, b, buffer.Length);
                        if (n > 0)
                        {
                            (i == 0 ? output : error).Write(buffer, 0, (int)n);
                        }
                        else if (n == 0 || Marshal.GetLastPInvokeError() != EINTR)
                        {
                            close(fds[i].Fd);
                            fds[i].Fd = -1; // poll ignores negative descriptors
                            open--;
                        }
                    }
                }
            }

            int status;
            while (wait4(pid, &status, 0, null) < 0)
            {
                if (Marshal.GetLastPInvokeError() != EINTR)
                {
                    throw new IOException($"wait4 {pid}: errno {Marshal.GetLastPInvokeError()}");
                }
            }

            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            var exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            return new Result(exit, Encoding.UTF8.GetString(output.ToArray()), Encoding.UTF8.GetString(error.ToArray()), ms);
        }
        finally
        {
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }

            NativeMemory.Free(argvP);
            NativeMemory.Free(envpP);
            NativeMemory.Free(actions);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn(int* pid, nint path, void* actions, void* attr, nint* argv, nint* envp);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int wait4(int pid, int* status, int options, void* rusage);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
