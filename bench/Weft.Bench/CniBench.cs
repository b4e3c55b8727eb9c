using System.Diagnostics;
using System.Globalization;
using System.Text;
using Weft.Linux;

namespace Weft.Bench;

/// <summary>
/// <c>weft-bench cni [--runs N]</c>: ADD and DEL latency of bin/weft-cni against the reference
/// <c>ptp</c> + <c>host-local</c> plugins (/usr/lib/cni), same machine, same run, same namespace setup:
/// a "host" namespace <c>weftbench-&lt;pid&gt;-host</c> where both plugins run, and a fresh container namespace per
/// run. Every plugin process is started from a thread inside the host namespace (no nsenter in the timing).
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
        var prefix = $"weftbench-{Environment.ProcessId}";
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

            // One untimed warm-up round each (page cache, first netns creation).
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
                    var add = Spawn(host, p, "ADD", id, $"{NetNs.RunDir}/{nsName}");
                    var del = Spawn(host, p, "DEL", id, $"{NetNs.RunDir}/{nsName}");
                    Quiesce(hostNl);
                    NetNs.TryDelete(nsName);
                    created.Remove(nsName);
                    if (i >= 0)
                    {
                        times[p.Name].Add.Add(add);
                        times[p.Name].Del.Add(del);
                    }
                }
            }

            var rss = PeakRss(host, plugins[0], prefix, created, 10);
            var refRss = PeakRss(host, plugins[1], prefix, created, 10);

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

    /// <summary>Runs one plugin command from a thread inside <paramref name="host"/>; returns wall milliseconds.</summary>
    private static double Spawn(NetNs host, Plugin p, string command, string id, string netns, string? wrapper = null, StringBuilder? stderr = null)
    {
        return host.Run(() =>
        {
            var psi = new ProcessStartInfo(wrapper ?? p.File)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (wrapper is not null)
            {
                psi.ArgumentList.Add("-f");
                psi.ArgumentList.Add("%M");
                psi.ArgumentList.Add(p.File);
            }

            psi.Environment["CNI_COMMAND"] = command;
            psi.Environment["CNI_CONTAINERID"] = id;
            psi.Environment["CNI_NETNS"] = netns;
            psi.Environment["CNI_IFNAME"] = "eth0";
            psi.Environment["CNI_PATH"] = RefPath;
            var sw = Stopwatch.StartNew();
            using var proc = Process.Start(psi)!;
            proc.StandardInput.Write(p.Conf);
            proc.StandardInput.Close();
            var stdout = proc.StandardOutput.ReadToEnd();
            var err = proc.StandardError.ReadToEnd();
            proc.WaitForExit();
            var ms = sw.Elapsed.TotalMilliseconds;
            if (proc.ExitCode != 0)
            {
                throw new InvalidOperationException($"{p.Name} {command} failed ({proc.ExitCode}): {stdout} {err}");
            }

            stderr?.Append(err);
            return ms;
        });
    }

    private static long PeakRss(NetNs host, Plugin p, string prefix, List<string> created, int runs)
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
                Spawn(host, p, cmd, $"rss{i}", $"{NetNs.RunDir}/{nsName}", "/usr/bin/time", err);
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
