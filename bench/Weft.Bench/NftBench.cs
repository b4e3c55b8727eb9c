using System.Diagnostics;
using System.Globalization;
using System.Net;
using Weft.Linux;
using Weft.Linux.Nft;

namespace Weft.Bench;

/// <summary>
/// <c>weft-bench nft [--elements N] [--runs R]</c>: one set-element change through libnftables
/// against the same change through a spawned <c>nft</c> (directly in the namespace, and through
/// <c>ip netns exec</c>), then full rebuilds of a concatenated interval set of 10,000 and 50,000
/// elements. Everything happens in a throwaway namespace <c>wefttest-PID-nftbench</c>.
/// Targets: libnftables set-element change ≥ 5× faster than spawning nft; rebuild of 10,000 ≤ 60 ms.
/// </summary>
public static class NftBench
{
    public static int Run(string[] args)
    {
        int elements = IntArg(args, "--elements", 10_000);
        int runs = IntArg(args, "--runs", 200);
        string name = $"wefttest-{Environment.ProcessId}-nftbench";
        using NetNs ns = NetNs.Create(name);
        try
        {
            using NftContext nft = NftContext.Open(ns);
            return Measure(ns, nft, elements, runs);
        }
        finally
        {
            NetNs.TryDelete(name);
        }
    }

    private static int Measure(NetNs ns, NftContext nft, int n, int runs)
    {
        NftTable table = Table(n, n);
        nft.Apply(new NftBatch().ReplaceTable(table));
        Console.WriteLine($"nftables set-element change: one element added, then deleted, {runs} times, in sets of {n:N0} elements:");
        Console.WriteLine("  addrs: ipv4_addr; policy_exact: mark . ipv4_addr . inet_proto . inet_service; policy_allow: the same with flags interval");
        Console.WriteLine($"{"method",-44} {"median",10} {"p90",10} {"ratio",8}");

        // One element outside the populated ranges.
        NftElement plain = NftElement.Of(NftValue.Address(IPAddress.Parse("10.254.255.254")));
        NftElement policy = new([NftValue.Mark(0xfffe), NftValue.Address(IPAddress.Parse("10.254.255.254")), NftValue.Tcp, NftValue.PortRange(8000, 9000)]);

        NftElement exact = new([NftValue.Mark(0xfffe), NftValue.Address(IPAddress.Parse("10.254.255.254")), NftValue.Tcp, NftValue.Port(8080)]);
        var cases = new (string Set, NftElement Element)[] { ("addrs", plain), ("policy_exact", exact), ("policy_allow", policy) };
        var summary = new List<string>();
        foreach ((string set, NftElement element) in cases)
        {
            string add = new NftBatch().AddElements(table, set, [element]).Render().TrimEnd('\n');
            string del = new NftBatch().DeleteElements(table, set, [element]).Render().TrimEnd('\n');
            Console.WriteLine($"-- {set}: {add}");
            (List<double> libAdd, List<double> libDel) = Time(runs, () => nft.Apply(add), () => nft.Apply(del));
            (List<double> spAdd, List<double> spDel) = Time(runs, () => ns.Run(() => Spawn("nft", add)), () => ns.Run(() => Spawn("nft", del)));
            (List<double> exAdd, List<double> exDel) = Time(runs, () => Spawn("ip", $"netns exec {ns.Name} nft {add}"), () => Spawn("ip", $"netns exec {ns.Name} nft {del}"));
            foreach ((string op, List<double> lib, List<double> sp, List<double> ex) in new[] { ("add", libAdd, spAdd, exAdd), ("delete", libDel, spDel, exDel) })
            {
                double l = Percentile(lib, 0.5);
                Console.WriteLine($"{op + " libnftables",-44} {Ms(l),10} {Ms(Percentile(lib, 0.9)),10} {"1.0x",8}");
                Console.WriteLine($"{op + " spawned nft (in the namespace)",-44} {Ms(Percentile(sp, 0.5)),10} {Ms(Percentile(sp, 0.9)),10} {Percentile(sp, 0.5) / l,7:F1}x");
                Console.WriteLine($"{op + " ip netns exec NS nft",-44} {Ms(Percentile(ex, 0.5)),10} {Ms(Percentile(ex, 0.9)),10} {Percentile(ex, 0.5) / l,7:F1}x");
                summary.Add($"{set,-13} {op,-6}: libnftables {Percentile(sp, 0.5) / l,6:F1}x faster than spawned nft, {Percentile(ex, 0.5) / l,6:F1}x faster than ip netns exec nft (target >= 5x)");
            }
        }

        Console.WriteLine();
        summary.ForEach(Console.WriteLine);

        Console.WriteLine();
        Console.WriteLine("full rebuild of table inet weft (add table; delete table; the table with its sets, chains, elements) in one transaction");
        Console.WriteLine("(cpu = this process's user+system time during the apply: libnftables plus the kernel's commit work)");
        Console.WriteLine($"{"policy set",-44} {"render",10} {"apply",10} {"p90",10} {"apply cpu",10}");
        foreach ((int size, int reps, bool interval) in new[] { (10_000, 15, true), (50_000, 5, true), (10_000, 15, false), (50_000, 5, false) })
        {
            var render = new List<double>();
            var apply = new List<double>();
            var cpu = new List<double>();
            using var self = Process.GetCurrentProcess();
            for (int i = 0; i < reps; i++)
            {
                NftTable t = Table(0, size, i, interval);
                long t0 = Stopwatch.GetTimestamp();
                string script = new NftBatch().ReplaceTable(t).Render();
                long t1 = Stopwatch.GetTimestamp();
                self.Refresh();
                TimeSpan c0 = self.TotalProcessorTime;
                nft.Apply(script);
                long t2 = Stopwatch.GetTimestamp();
                self.Refresh();
                cpu.Add((self.TotalProcessorTime - c0).TotalMilliseconds);
                render.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                apply.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            }

            render.Sort();
            apply.Sort();
            cpu.Sort();
            int got = nft.ListElements(NftFamily.Inet, "weft", "policy_allow").Count;
            if (got != size)
            {
                Console.Error.WriteLine($"rebuild check failed: policy_allow holds {got} elements, expected {size}");
                return 1;
            }

            string label = $"{size:N0} {(interval ? "mark.ip.proto.port, interval" : "mark.ip.proto.port, exact")}";
            Console.WriteLine($"{label,-44} {Ms(Percentile(render, 0.5)),10} {Ms(Percentile(apply, 0.5)),10} {Ms(Percentile(apply, 0.9)),10} {Ms(Percentile(cpu, 0.5)),10}{(size == 10_000 && interval ? "   (target <= 60 ms)" : "")}");
        }

        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()} on {Environment.ProcessorCount} CPUs");

        return 0;
    }

    /// <summary>A table like the agent's: a plain address set of <paramref name="plain"/> and a policy set of <paramref name="policies"/>.</summary>
    private static NftTable Table(int plain, int policies, int seed = 0, bool interval = true) => new(
        NftFamily.Inet,
        "weft",
        [
            NftChain.Base("forward", NftChainType.Filter, NftHook.Forward, NftPriority.Filter, NftChainPolicy.Accept,
            [
                NftRule.Of(NftStatement.CtState(NftCtState.Established | NftCtState.Related), NftStatement.Accept),
                NftRule.Of(NftStatement.InSet(NftExpr.Concat(NftExpr.MetaMark, NftExpr.IpDaddr, NftExpr.L4Proto, NftExpr.ThDport), "policy_allow"), NftStatement.Accept),
                NftRule.Of(NftStatement.InSet(NftExpr.IpSaddr, "addrs"), NftStatement.Counter),
            ]),
        ],
        [
            new NftSet("addrs", [NftDataType.Ipv4Addr], NftSetFlags.None,
                Enumerable.Range(0, plain).Select(i => NftElement.Of(NftValue.Address(V4(0x0AFF0000u + (uint)i)))).ToList()),
            new NftSet("policy_exact", [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService], NftSetFlags.None,
                Enumerable.Range(0, plain).Select(i => new NftElement(
                [
                    NftValue.Mark((uint)(i % 4000) + 1),
                    NftValue.Address(V4(0x0AFF0000u + (uint)(i / 4))),
                    (i & 1) == 0 ? NftValue.Tcp : NftValue.Udp,
                    NftValue.Port((ushort)(8080 + (i & 2))),
                ])).ToList()),
            new NftSet("policy_allow", [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService], interval ? NftSetFlags.Interval : NftSetFlags.None,
                Enumerable.Range(0, policies).Select(i => new NftElement(
                [
                    NftValue.Mark((uint)((i + seed) % 4000) + 1),
                    NftValue.Address(V4(0x0AFF0000u + (uint)(i / 4))),
                    (i & 1) == 0 ? NftValue.Tcp : NftValue.Udp,
                    (i & 2) == 0 || !interval ? NftValue.Port((ushort)(8080 + (i & 2))) : NftValue.PortRange(9000, 9100),
                ])).ToList()),
        ],
        []);

    private static IPAddress V4(uint a) => new([(byte)(a >> 24), (byte)(a >> 16), (byte)(a >> 8), (byte)a]);

    private static (List<double> Add, List<double> Delete) Time(int runs, Action add, Action del)
    {
        add();
        del(); // warm-up
        var adds = new List<double>(runs);
        var dels = new List<double>(runs);
        for (int i = 0; i < runs; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            add();
            long t1 = Stopwatch.GetTimestamp();
            del();
            long t2 = Stopwatch.GetTimestamp();
            adds.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            dels.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
        }

        adds.Sort();
        dels.Sort();
        return (adds, dels);
    }

    private static int Spawn(string file, string args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? 0 : throw new InvalidOperationException($"{file} {args}: exit {p.ExitCode}: {err}");
    }

    private static double Percentile(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];

    private static string Ms(double ms) => ms.ToString("F3", CultureInfo.InvariantCulture) + " ms";

    private static int IntArg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }
}
