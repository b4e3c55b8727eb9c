using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Weft.Agent.Dataplane;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;
using Weft.Agent.Server;
using Weft.Linux;
using Weft.Linux.Nft;
using Weft.TestSupport;

namespace Weft.Bench;

/// <summary>
/// weft-bench agent: (1) nft apply time of the agent's set-based table vs CF-style linear rules
/// (iptables-legacy and linear nft) at 10,000 and 50,000 policy entries; (2) TCP throughput between
/// containers on two cells: plain VXLAN, conntrack alone (the reference floor), Weft with 0 and with 10,000
/// policies; (3) policy propagation
/// over 3 cells with a real weft-server and weft-agents (needs ./build.sh). Everything runs in
/// throwaway namespaces; needs root.
/// </summary>
public static class AgentBench
{
    public static int Run(string[] args)
    {
        var what = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
        var sizes = Opt(args, "--sizes", "10000,50000").Split(',').Select(int.Parse).ToArray();
        var policies = int.Parse(Opt(args, "--policies", "120"), CultureInfo.InvariantCulture);
        if (what is "all" or "nft") NftApply(sizes);
        if (what is "all" or "throughput") Throughput(int.Parse(Opt(args, "--rounds", "15"), CultureInfo.InvariantCulture), int.Parse(Opt(args, "--seconds", "2"), CultureInfo.InvariantCulture), args.Contains("--profile"));
        if (what is "all" or "propagation") Propagation(policies);
        return 0;
    }

    private static string Opt(string[] args, string name, string def)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
    }

    // ---------------------------------------------------------------- nft apply time

    /// <summary>N allow entries: N source apps (tags 1..N) each allowed to one local backend on its own port.</summary>
    private static PolicyInputs Inputs(CellSkeleton cell, int n, int extra = 0)
    {
        var policies = new List<PolicyRule>(n + extra);
        for (var i = 0; i < n + extra; i++) policies.Add(new PolicyRule($"app-{i}", 1 + i % 65000, "backend", 65001, "tcp", 1024 + i % 60000, 1024 + i % 60000));
        var containers = new List<LocalContainer>();
        for (var c = 0; c < 10; c++) containers.Add(new LocalContainer($"c{c}", "eth0", IPAddress.Parse($"10.255.12.{10 + c}"), $"w-0102550120{10 + c}", c == 0 ? "backend" : $"other-{c}", []));
        return new PolicyInputs(cell, policies, containers, [cell.CellIp]);
    }

    private static DesiredTable Table(CellSkeleton cell, int n, int extra = 0) => PolicyCompiler.Compute(Inputs(cell, n, extra));

    /// <summary>
    /// The policies as the agent gets them from a new snapshot: the server's JSON parsed by
    /// <see cref="WireFormat.ParseSnapshot"/> with the agent's name pool (new objects, names shared with
    /// the last snapshot), with one more policy in the middle when <paramref name="withOneMore"/>.
    /// </summary>
    private static PolicyInputs Snapshot(PolicyInputs baseInputs, bool withOneMore, NamePool names, List<double> parseMs)
    {
        var list = baseInputs.Policies.ToList();
        if (withOneMore) list.Insert(list.Count / 2, new PolicyRule("app-new", 65002, "backend", 65001, "udp", 53, 53));
        var json = new StringBuilder("{\"revision\":1,\"policies\":[");
        foreach (var p in list)
        {
            json.Append(CultureInfo.InvariantCulture, $"{{\"source\":{{\"id\":\"{p.SourceApp}\",\"tag\":\"{p.SourceTag:X4}\"}},\"destination\":{{\"id\":\"{p.DestinationApp}\",\"tag\":\"{p.DestinationTag:X4}\",\"protocol\":\"{p.Protocol}\",\"ports\":{{\"start\":{p.StartPort},\"end\":{p.EndPort}}}}}}},");
        }
        json.Length--;
        json.Append("],\"leases\":[]}");
        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        var sw = Stopwatch.StartNew();
        var snap = WireFormat.ParseSnapshot(bytes, names);
        parseMs.Add(sw.Elapsed.TotalMilliseconds);
        if (!snap.Policies.SequenceEqual(list)) throw new InvalidOperationException("snapshot round trip");
        return baseInputs with { Policies = snap.Policies };
    }

    private static void NftApply(int[] sizes)
    {
        Console.WriteLine("== nft apply time (one cell namespace; median of runs)");
        Console.WriteLine("   weft full: no table -> sets declared, filled by one netlink batch, rules added (the agent's start/rebuild path); compile: computing that table from the policies (not in 'weft full');");
        Console.WriteLine("   rebuild: the same with the incremental table's indexes (IncrementalTable.Rebuild, what the agent does at start)");
        Console.WriteLine("   over stale: a table holding these N entries and N stale ones -> read back, element delta, rules checked (restart/resync path)");
        Console.WriteLine("   text full: the same table as one libnftables transaction (the fallback, and the previous design)");
        Console.WriteLine("   full cpu: this process's user+system CPU time during the full build (the kernel's batch work runs in our sendmsg), steadier than wall time under load");
        Console.WriteLine("   agent step: one policy added/removed in a new snapshot (the server's JSON parsed as the agent does, the policy in the middle) -> IncrementalTable.Update");
        Console.WriteLine("   (policy diff, affected elements) -> one netlink batch (median/max of 20); update: the Update part alone; recompute step: the same change the");
        Console.WriteLine("   non-incremental way (compile everything, diff the tables, batch); snapshot parse: JSON -> policies, before the step (not in it)");
        Console.WriteLine($"{"entries",8} {"weft full",10} {"full cpu",9} {"compile",9} {"rebuild",9} {"over stale",11} {"text full",10} {"1 change nl",12} {"agent step",11} {"max",8} {"update",8} {"recompute step",15} {"snapshot parse",15} {"CF ipt-legacy",14} {"CF linear nft",14} {"legacy/weft",11} {"linear/weft",11}");
        using var fabric = new CellFabric();
        var cell = fabric.AddCell("nft", "198.18.0.11");
        using var ns = NetNs.OpenByName(cell.Ns);
        using var runner = ns.Run(LibNftRunner.OpenHere);
        var skel = new CellSkeleton(cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16"));
        foreach (var n in sizes)
        {
            var inputs = Inputs(skel, n);
            var compile = Median(5, () => PolicyCompiler.Compute(inputs));
            var rebuild = Median(5, () => new IncrementalTable().Rebuild(inputs));
            var t = PolicyCompiler.Compute(inputs);
            var t1 = Table(skel, n, 1);
            var stale = Table(skel with { }, n, n); // 2n entries: n of them differ from t
            var cpus = new List<double>();
            var full = MedianWithSetup(5, () => runner.Apply(NftScript.DeleteTable), () =>
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                if (new NftEnforcer(runner).Apply(t).Kind != NftApplyKind.Full) throw new InvalidOperationException("expected a full build");
                cpus.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds);
            });
            cpus.Sort();
            var fullCpu = cpus[cpus.Count / 2];
            // The setup waits until the kernel has finished resizing its hash tables after the additions (a
            // table the agent restarts over has been there a while): a dump during a resize lists some
            // elements twice and the agent dumps again (NftEnforcer.DumpRetries).
            var over = MedianWithSetup(3, () => { new NftEnforcer(runner).Apply(stale); Thread.Sleep(1000); }, () => new NftEnforcer(runner).Apply(t));
            runner.Apply(NftScript.DeleteTable);
            var text = MedianWithSetup(3, () => { }, () => runner.Apply(NftScript.Full(t)));
            runner.Apply(NftScript.DeleteTable);

            // One policy change: the netlink transaction alone.
            var enf = new NftEnforcer(runner);
            enf.Apply(t);
            var add = NftScript.Delta(t, t1);
            var del = NftScript.Delta(t1, t);
            var changes = new List<double>();
            for (var i = 0; i < 20; i++)
            {
                var sw = Stopwatch.StartNew();
                runner.Commit((i % 2 == 0 ? add : del).ToBatch());
                changes.Add(sw.Elapsed.TotalMilliseconds);
            }
            changes.Sort();

            // The agent's whole step, incremental: new snapshot in hand -> element delta -> batch.
            runner.Apply(NftScript.DeleteTable);
            enf = new NftEnforcer(runner);
            var incremental = new IncrementalTable();
            enf.Apply(incremental.Rebuild(inputs));
            var names = new NamePool();
            var parse = new List<double>();
            PolicyInputs[] snaps = [Snapshot(inputs, true, names, parse), Snapshot(inputs, false, names, parse), Snapshot(inputs, true, names, parse), Snapshot(inputs, false, names, parse)];
            parse.Sort();
            var steps = new List<double>();
            var updates = new List<double>();
            for (var i = -2; i < 20; i++) // two untimed: the first call of each path compiles it
            {
                var sw = Stopwatch.StartNew();
                var delta = incremental.Update(snaps[(i + 4) % 4]);
                updates.Add(sw.Elapsed.TotalMilliseconds);
                var r = enf.ApplyDelta(skel, delta, incremental.ToTable);
                if (i < 0) { updates.RemoveAt(updates.Count - 1); continue; }
                steps.Add(sw.Elapsed.TotalMilliseconds);
                if (r.Kind != NftApplyKind.Delta || r.Elements != 1) throw new InvalidOperationException($"expected a delta of one element, got {r.Kind} {r.Elements}");
            }
            steps.Sort();
            updates.Sort();

            // The same step the non-incremental way: recompute everything, diff against the applied table, batch.
            runner.Apply(NftScript.DeleteTable);
            enf = new NftEnforcer(runner);
            enf.Apply(t);
            var recompute = new List<double>();
            for (var i = 0; i < 10; i++)
            {
                var sw = Stopwatch.StartNew();
                var r = enf.Apply(PolicyCompiler.Compute(snaps[i % 2]));
                recompute.Add(sw.Elapsed.TotalMilliseconds);
                if (r.Kind != NftApplyKind.Delta) throw new InvalidOperationException("expected a delta");
            }
            recompute.Sort();
            runner.Apply(NftScript.DeleteTable);

            // CF style: one ACCEPT rule per (destination IP, protocol, port, source mark), rebuilt whole.
            var ipt = new StringBuilder("*filter\n:weft-ingress - [0:0]\n-F weft-ingress\n");
            var lin = new StringBuilder("add table inet cf\ndelete table inet cf\ntable inet cf {\n chain ingress {\n  type filter hook forward priority 0; policy accept;\n");
            for (var i = 0; i < n; i++)
            {
                var port = 1024 + i % 60000;
                var mark = 1 + i % 65000;
                ipt.Append(CultureInfo.InvariantCulture, $"-A weft-ingress -d 10.255.12.10/32 -p tcp -m tcp --dport {port} -m mark --mark 0x{mark:x} -j ACCEPT\n");
                lin.Append(CultureInfo.InvariantCulture, $"  ip daddr 10.255.12.10 tcp dport {port} meta mark 0x{mark:x} accept\n");
            }
            ipt.Append("-A weft-ingress -j REJECT\nCOMMIT\n");
            lin.Append("  reject\n }\n}\n");
            var iptFile = Path.GetTempFileName();
            File.WriteAllText(iptFile, ipt.ToString());
            var legacy = Median(3, () => Exec("sh", $"-c \"ip netns exec {cell.Ns} iptables-legacy-restore -w < {iptFile}\""));
            var linear = Median(3, () => runner.Apply(lin.ToString()));
            runner.Apply("delete table inet cf\n");
            File.Delete(iptFile);
            Console.WriteLine($"{n,8} {full,8:F1}ms {fullCpu,7:F1}ms {compile,7:F1}ms {rebuild,7:F1}ms {over,9:F1}ms {text,8:F1}ms {changes[changes.Count / 2],10:F2}ms {steps[steps.Count / 2],9:F2}ms {steps[^1],6:F2}ms {updates[updates.Count / 2],6:F2}ms {recompute[recompute.Count / 2],13:F2}ms {parse[parse.Count / 2],13:F1}ms {legacy,12:F1}ms {linear,12:F1}ms {legacy / full,10:F2}x {linear / full,10:F2}x");
        }
        Console.WriteLine($"targets: full rebuild of 10,000 <= 60 ms; one change <= 2 ms at any size; load average: {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    /// <summary>Median time of <paramref name="a"/>, with an untimed <paramref name="setup"/> before each run.</summary>
    private static double MedianWithSetup(int runs, Action setup, Action a)
    {
        var xs = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            setup();
            var sw = Stopwatch.StartNew();
            a();
            xs.Add(sw.Elapsed.TotalMilliseconds);
        }
        xs.Sort();
        return xs[xs.Count / 2];
    }

    private static double Median(int runs, Action a)
    {
        var xs = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            a();
            xs.Add(sw.Elapsed.TotalMilliseconds);
        }
        xs.Sort();
        return xs[xs.Count / 2];
    }

    private static void Exec(string file, string args)
    {
        var (rc, output) = CellFabric.Run(file, args);
        if (rc != 0) throw new InvalidOperationException($"{file} {args}: {output}");
    }

    // ---------------------------------------------------------------- throughput

    private static void Throughput(int rounds, int seconds, bool profile)
    {
        Console.WriteLine($"== TCP throughput between containers on two cells (iperf3, {seconds} s runs, {rounds} interleaved rounds, the order a balanced Latin square)");
        using var fabric = new CellFabric();
        var overlay = IPNetwork.Parse("10.255.0.0/16");
        var cellA = fabric.AddCell("ta", "198.18.0.11");
        var cellB = fabric.AddCell("tb", "198.18.0.12");
        var la = new Lease(cellA.UnderlayIp, IPNetwork.Parse("10.255.12.0/24"), "");
        var lb = new Lease(cellB.UnderlayIp, IPNetwork.Parse("10.255.13.0/24"), "");
        using var nsA = NetNs.OpenByName(cellA.Ns);
        using var nsB = NetNs.OpenByName(cellB.Ns);
        using var dpA = new LinuxDataplane(nsA);
        using var dpB = new LinuxDataplane(nsB);
        foreach (var (dp, own, ip) in new[] { (dpA, la, cellA.UnderlayIp), (dpB, lb, cellB.UnderlayIp) })
        {
            dp.EnsureVtep(own, overlay, ip, null);
            var r = dp.ReconcileOverlay(OverlayPlanner.Compute(own, [la, lb], overlay));
            if (!r.Ok) throw new AggregateException(r.Errors);
        }
        var server = fabric.AddContainer(cellA, "srv", "10.255.12.2");
        var client = fabric.AddContainer(cellB, "cli", "10.255.13.2");
        var iperf = fabric.Start(server.Ns, "/usr/bin/iperf3", ["-s"]);
        Thread.Sleep(300);
        var allow = new PolicyRule("client", 2, "server", 1, "tcp", 5201, 5201);
        DesiredTable TableFor(CellFabric f, FabricCell c, LocalContainer[] local, int extra)
        {
            var ps = new List<PolicyRule> { allow };
            for (var i = 0; i < extra; i++) ps.Add(new PolicyRule($"app-{i}", 3 + i, "server", 1, "tcp", 10000 + i % 50000, 10000 + i % 50000));
            return PolicyCompiler.Compute(new PolicyInputs(new CellSkeleton(c.UnderlayIp, overlay), ps, local, [cellA.UnderlayIp, cellB.UnderlayIp]));
        }
        LocalContainer[] onA = [new("srv", "eth0", server.Ip, server.HostVeth, "server", [])];
        LocalContainer[] onB = [new("cli", "eth0", client.Ip, client.HostVeth, "client", [])];

        double Measure()
        {
            var (rc, output) = CellFabric.Run("ip", $"netns exec {client.Ns} iperf3 -c {server.Ip} -t {seconds} -J");
            if (rc != 0) throw new InvalidOperationException($"iperf3: {output}");
            using var doc = JsonDocument.Parse(output);
            return doc.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble();
        }
        var t0A = TableFor(fabric, cellA, onA, 0);
        var t0B = TableFor(fabric, cellB, onB, 0);
        var t10A = TableFor(fabric, cellA, onA, 10000);
        var t10B = TableFor(fabric, cellB, onB, 10000);
        // Reference for the floor of any stateful design ("replies by conntrack"): conntrack and one
        // forward rule accepting established flows, nothing else (no mark, no notrack, no NAT).
        const string ConntrackOnly = "table inet weftref {\n chain forward { type filter hook forward priority filter; ct state established,related accept\n }\n}\n";
        var refFile = Path.Combine(Path.GetTempPath(), $"weft-bench-ctref-{Environment.ProcessId}.nft");
        File.WriteAllText(refFile, ConntrackOnly);
        void Reference(bool on)
        {
            foreach (var c in new[] { cellA, cellB })
            {
                CellFabric.Run("ip", $"netns exec {c.Ns} nft delete table inet weftref");
                if (on) CellFabric.Sh($"ip netns exec {c.Ns} nft -f {refFile}");
            }
        }
        var modes = new (string Label, Action Setup, List<double> Bps)[]
        {
            ("plain VXLAN (no table)", () => { Reference(false); dpA.Nft.Delete(); dpB.Nft.Delete(); }, []),
            ("reference: conntrack alone", () => { dpA.Nft.Delete(); dpB.Nft.Delete(); Reference(true); }, []),
            ("weft, 0 policies (+1 allowing iperf)", () => { Reference(false); dpA.Nft.Apply(t0A); dpB.Nft.Apply(t0B); }, []),
            ("weft, 10,000 policies", () => { Reference(false); dpA.Nft.Apply(t10A); dpB.Nft.Apply(t10B); }, []),
        };
        // Interleaved rounds (the machine is shared): medians per mode. The order follows a balanced
        // Latin square (Williams: 0, n-1, 1, n-2, … shifted by the round): over n rounds every mode
        // runs once in each position and, for an even n, right after each other mode once.
        var windows = new List<(int Mode, long Start, long End)>();
        using var perf = profile ? CpuProfile.Start() : null;
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < modes.Length; k++)
            {
                var i = ((k % 2 == 0 ? k / 2 : modes.Length - (k + 1) / 2) + round) % modes.Length;
                modes[i].Setup();
                var start = Stopwatch.GetTimestamp();
                modes[i].Bps.Add(Measure());
                windows.Add((i, start, Stopwatch.GetTimestamp()));
            }
        }
        dpA.Nft.Delete();
        dpB.Nft.Delete();
        Reference(false);
        File.Delete(refFile);
        double Med(List<double> xs) { var s = xs.Order().ToList(); return s[s.Count / 2]; }
        var plain = Med(modes[0].Bps);
        // Paired: each round's ratio to the plain run of the same round (the machine's speed drifts
        // between rounds; a pair is measured seconds apart), then the median of those ratios.
        foreach (var m in modes)
        {
            var ratios = m.Bps.Select((b, i) => b / modes[0].Bps[i]).ToList();
            var (lo, hi) = BootstrapMedian(ratios);
            Console.WriteLine($"  {m.Label,-40} median {Med(m.Bps) / 1e9,6:F2} Gbit/s  {Med(m.Bps) / plain * 100,6:F1}% of plain, paired {Med(ratios) * 100,6:F1}% (95% interval {lo * 100:F1}-{hi * 100:F1}%)   (runs: {string.Join(" ", m.Bps.Select(b => (b / 1e9).ToString("F2", CultureInfo.InvariantCulture)))})");
        }
        // Percentile bootstrap of the paired median (fixed seed: the same runs give the same interval).
        static (double Lo, double Hi) BootstrapMedian(List<double> xs)
        {
            var random = new Random(1);
            var medians = new double[2000];
            var sample = new double[xs.Count];
            for (var b = 0; b < medians.Length; b++)
            {
                for (var i = 0; i < sample.Length; i++) sample[i] = xs[random.Next(xs.Count)];
                Array.Sort(sample);
                medians[b] = sample[sample.Length / 2];
            }
            Array.Sort(medians);
            return (medians[medians.Length * 25 / 1000], medians[medians.Length * 975 / 1000]);
        }
        Console.WriteLine("target: with 10,000 policies >= 90% of plain VXLAN");
        iperf.Kill();
        if (perf?.Stop(windows, modes.Length) is { } shares)
        {
            Console.WriteLine("  CPU in netfilter and in route lookups (perf, all CPUs, 499 Hz; share of the non-idle samples in each mode's runs;");
            Console.WriteLine("  'others': samples of processes other than iperf3, the kernel's idle and softirq threads: other load on the machine, which dilutes the shares):");
            for (var i = 0; i < modes.Length; i++)
            {
                var c = shares[i];
                Console.WriteLine($"  {modes[i].Label,-40} netfilter {c.Share(c.Netfilter),5:F2}%  (rule evaluation {c.Share(c.Rules):F2}, conntrack {c.Share(c.Conntrack):F2}, nat {c.Share(c.Nat):F2}, hook walk and other {c.Share(c.Hooks):F2})   route lookups {c.Share(c.Routing),5:F2}%   idle {100.0 * c.Idle / Math.Max(1, c.Total):F1}%, others {c.Share(c.Others):F1}%, {c.Total} samples");
            }
        }
    }

    /// <summary>
    /// A system-wide <c>perf record</c> (kernel symbols, CLOCK_MONOTONIC timestamps, the clock of
    /// <see cref="Stopwatch.GetTimestamp"/> on Linux) running while the modes are measured; its samples
    /// are then attributed to the mode whose run they fall in and sorted by kernel function into
    /// netfilter's parts. Less noisy than throughput on a shared VM (within about ±0.5 points from run
    /// to run here): it compares shares of the work done in the same seconds, not the speed of the
    /// machine at that moment.
    /// </summary>
    private sealed class CpuProfile : IDisposable
    {
        private readonly Process _perf;
        private readonly string _file;
        private readonly StringBuilder _log = new();

        private string Log { get { lock (_log) return _log.ToString().Trim(); } }

        private CpuProfile(Process perf, string file) => (_perf, _file) = (perf, file);

        public static CpuProfile? Start()
        {
            var file = Path.Combine(Path.GetTempPath(), $"weft-bench-perf-{Environment.ProcessId}.data");
            try
            {
                var p = StartPerf("record", "-a", "-F", "499", "-k", "CLOCK_MONOTONIC", "-o", file);
                var profile = new CpuProfile(p, file);
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (profile._log) profile._log.AppendLine(e.Data); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                Thread.Sleep(500);
                if (!p.HasExited) return profile;
                p.WaitForExit();
                Console.WriteLine($"  --profile: perf record ended at once (exit {p.ExitCode}); measuring without it. perf said: {profile.Log}");
                profile.Dispose();
                return null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                Console.WriteLine("  --profile: perf is not installed (apt-get install linux-perf); measuring without it");
                return null;
            }
        }

        private static Process StartPerf(params string[] args)
        {
            var psi = new ProcessStartInfo("perf") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            return Process.Start(psi)!;
        }

        public sealed class Counts
        {
            public long Total, Idle, Rules, Conntrack, Nat, Hooks, Routing, Others;

            public long Netfilter => Rules + Conntrack + Nat + Hooks;

            public double Share(long n) => 100.0 * n / Math.Max(1, Total - Idle);
        }

        /// <summary>
        /// Ends perf (SIGINT, so it writes its file) and counts its samples per mode; null (with what
        /// perf said) when it recorded nothing.
        /// </summary>
        public Counts[]? Stop(List<(int Mode, long Start, long End)> windows, int modes)
        {
            End();
            var counts = Enumerable.Range(0, modes).Select(_ => new Counts()).ToArray();
            if (!File.Exists(_file))
            {
                Console.WriteLine($"  --profile: perf wrote no file (exit {_perf.ExitCode}). perf said: {Log}");
                return null;
            }
            using var p = StartPerf("script", "-i", _file, "-F", "comm,time,ip,sym");
            p.ErrorDataReceived += (_, _) => { };
            p.BeginErrorReadLine();
            var sorted = windows.OrderBy(w => w.Start).ToArray();
            var w = 0;
            // Read to the end (perf blocks on a full pipe otherwise); samples outside the windows are skipped.
            while (p.StandardOutput.ReadLine() is { } line)
            {
                // "iperf3  35088.679801:  ffffffff821ef72b pv_native_safe_halt" (a comm may hold spaces)
                if (!TryParseSample(line, out var comm, out var seconds, out var sym)) continue;
                var t = (long)(seconds * Stopwatch.Frequency);
                while (w < sorted.Length && sorted[w].End < t) w++;
                if (w == sorted.Length || t < sorted[w].Start) continue;
                var c = counts[sorted[w].Mode];
                c.Total++;
                if (IsIdle(sym)) { c.Idle++; continue; }
                if (!(comm == "iperf3" || comm.StartsWith("swapper", StringComparison.Ordinal) || comm.StartsWith("ksoftirqd", StringComparison.Ordinal))) c.Others++;
                if (IsRouting(sym)) c.Routing++;
                else if (Category(sym) is { } k)
                {
                    switch (k)
                    {
                        case 'r': c.Rules++; break;
                        case 'c': c.Conntrack++; break;
                        case 'n': c.Nat++; break;
                        default: c.Hooks++; break;
                    }
                }
            }
            if (!p.WaitForExit(60_000)) p.Kill();
            if (counts.Sum(c => c.Total) == 0)
            {
                Console.WriteLine($"  --profile: no samples fell in the measured runs. perf said: {Log}");
                return null;
            }
            return counts;
        }

        private static bool TryParseSample(string line, out string comm, out double seconds, out string sym)
        {
            (comm, seconds, sym) = ("", 0, "");
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 1; i < parts.Length - 1; i++)
            {
                if (parts[i].EndsWith(':') && double.TryParse(parts[i].AsSpan(0, parts[i].Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds))
                {
                    comm = string.Join(' ', parts[..i]);
                    sym = parts[^1];
                    return true;
                }
            }
            return false;
        }

        private static bool IsIdle(string sym) =>
            sym.EndsWith("safe_halt", StringComparison.Ordinal) || sym.EndsWith("_idle", StringComparison.Ordinal) || sym.Contains("cpuidle", StringComparison.Ordinal)
            || sym.StartsWith("acpi_idle", StringComparison.Ordinal) || sym.StartsWith("mwait_idle", StringComparison.Ordinal);

        /// <summary>
        /// Route lookups (input and output, FIB, the source-address check, xfrm): not netfilter, but
        /// where a table can add work outside its hooks. VXLAN keeps the route to a remote VTEP in a
        /// cache that it does not use for a packet carrying a mark (ip_tunnel_dst_cache_usable), so every
        /// marked packet pays a full output route lookup.
        /// </summary>
        private static bool IsRouting(string sym) =>
            sym.StartsWith("ip_route_", StringComparison.Ordinal) || sym.StartsWith("fib_", StringComparison.Ordinal) || sym.StartsWith("__fib_", StringComparison.Ordinal)
            || sym is "__ip_dev_find" or "xfrm_lookup_with_ifid" or "xfrm_lookup_route";

        /// <summary>r: nf_tables rule evaluation; c: conntrack; n: NAT; h: the hook walk; null: not netfilter.</summary>
        private static char? Category(string sym)
        {
            if (sym.StartsWith("nft_", StringComparison.Ordinal) || sym.StartsWith("__nft_", StringComparison.Ordinal)) return 'r';
            if (sym.StartsWith("nf_nat", StringComparison.Ordinal) || sym.StartsWith("__nf_nat", StringComparison.Ordinal)) return 'n';
            if (sym.Contains("conntrack", StringComparison.Ordinal) || sym.StartsWith("nf_ct_", StringComparison.Ordinal) || sym.StartsWith("__nf_ct_", StringComparison.Ordinal)
                || sym is "tcp_in_window" or "nf_confirm" or "resolve_normal_ct" or "init_conntrack" or "ipv4_confirm") return 'c';
            if (sym.StartsWith("nf_", StringComparison.Ordinal) || sym.StartsWith("__nf_", StringComparison.Ordinal)) return 'h';
            return null;
        }

        /// <summary>Ends the perf process this started (SIGINT by its pid, then SIGKILL if it has not exited after 30 s).</summary>
        private void End()
        {
            try
            {
                if (_perf.HasExited) return;
                CellFabric.Run("kill", $"-INT {_perf.Id}");
                if (!_perf.WaitForExit(30_000)) { _perf.Kill(); _perf.WaitForExit(); }
            }
            catch (InvalidOperationException) { }
        }

        public void Dispose()
        {
            End();
            _perf.Dispose();
            File.Delete(_file);
            File.Delete(_file + ".old");
        }
    }

    // ---------------------------------------------------------------- propagation

    private static void Propagation(int count)
    {
        Console.WriteLine($"== policy propagation over 3 cells: API response -> working TCP on the destination cell ({count} policies)");
        using var c = new WeftCluster(("p1", "198.18.0.11"), ("p2", "198.18.0.12"), ("p3", "198.18.0.13"));
        c.StartAgent("p1");
        c.StartAgent("p2");
        c.StartAgent("p3");
        var backend = c.AddContainer("p1", "be", 2, "backend");
        var fe2 = c.AddContainer("p2", "fe2", 2, "frontend");
        var fe3 = c.AddContainer("p3", "fe3", 2, "frontend");
        var listeners = new List<Socket>();
        for (var i = 0; i < count; i++) listeners.Add(Listen(backend.Ns, 20000 + i));
        // The first policy also gives the frontend app its tag (source cells); not counted.
        c.CreatePolicy("frontend", "backend", "tcp", 19999, 19999).GetAwaiter().GetResult();
        listeners.Add(Listen(backend.Ns, 19999));
        WaitConnect(fe2.Ns, backend.Ip, 19999);
        WaitConnect(fe3.Ns, backend.Ip, 19999);

        var times = new List<double>();
        for (var i = 0; i < count; i++)
        {
            c.CreatePolicy("frontend", "backend", "tcp", 20000 + i, 20000 + i).GetAwaiter().GetResult();
            var sw = Stopwatch.StartNew();
            WaitConnect(i % 2 == 0 ? fe2.Ns : fe3.Ns, backend.Ip, 20000 + i);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        foreach (var l in listeners) l.Dispose();
        times.Sort();
        Console.WriteLine($"  p50 {times[times.Count / 2]:F1} ms   p99 {times[(int)Math.Ceiling(times.Count * 0.99) - 1]:F1} ms   max {times[^1]:F1} ms   (CF: 5-7 s)");
        var metrics = c.AgentGet("p1", "/metrics").GetAwaiter().GetResult().Body;
        double M(string name) => metrics.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        Console.WriteLine($"  destination agent: change seen -> table applied avg {M("weft_agent_change_to_applied_seconds_sum") / Math.Max(1, M("weft_agent_change_to_applied_seconds_count")) * 1000:F2} ms; " +
            $"snapshot fetch avg {M("weft_agent_watch_lag_seconds_sum") / Math.Max(1, M("weft_agent_watch_lag_seconds_count")) * 1000:F2} ms; " +
            $"nft delta avg {M("weft_agent_nft_apply_seconds_sum{kind=\"delta\"}") / Math.Max(1, M("weft_agent_nft_apply_seconds_count{kind=\"delta\"}")) * 1000:F2} ms");
        Console.WriteLine("target: p99 <= 100 ms");
    }

    private static Socket Listen(string ns, int port)
    {
        var s = CellFabric.Socket(ns, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Any, port));
        s.Listen(64);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                try { (await s.AcceptAsync()).Dispose(); } catch (Exception) { return; }
            }
        });
        return s;
    }

    /// <summary>Connects until it works (the reject rule answers at once, so each refused try is fast).</summary>
    private static void WaitConnect(string ns, IPAddress ip, int port)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            using var s = CellFabric.Socket(ns, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                s.ConnectAsync(new IPEndPoint(ip, port), cts.Token).AsTask().GetAwaiter().GetResult();
                return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                Thread.Sleep(1);
            }
        }
        throw new TimeoutException($"{ip}:{port} never became reachable");
    }
}
