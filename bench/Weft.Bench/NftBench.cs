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
        Console.WriteLine($"nftables set-element change, set of {n:N0} ipv4_addr + concatenated interval set of {n:N0}; {runs} runs each (add + delete of one element = 2 changes per run)");
        Console.WriteLine($"{"method",-44} {"median",10} {"p90",10} {"ratio",8}");

        // One element outside the populated ranges.
        NftElement plain = NftElement.Of(NftValue.Address(IPAddress.Parse("10.254.255.254")));
        NftElement policy = new([NftValue.Mark(0xfffe), NftValue.Address(IPAddress.Parse("10.254.255.254")), NftValue.Tcp, NftValue.PortRange(8000, 9000)]);
        string addPlain = new NftBatch().AddElements(table, "addrs", [plain]).Render();
        string delPlain = new NftBatch().DeleteElements(table, "addrs", [plain]).Render();
        string addPolicy = new NftBatch().AddElements(table, "policy_allow", [policy]).Render();
        string delPolicy = new NftBatch().DeleteElements(table, "policy_allow", [policy]).Render();

        var results = new List<(string Name, double Median, double P90)>();
        void Row(string label, List<double> samples, double? reference)
        {
            samples.Sort();
            double med = Percentile(samples, 0.5), p90 = Percentile(samples, 0.9);
            results.Add((label, med, p90));
            string ratio = reference is double r ? $"{med / r,7:F1}x" : "    1.0x";
            Console.WriteLine($"{label,-44} {Ms(med),10} {Ms(p90),10} {ratio}");
        }

        foreach ((string set, string add, string del) in new[] { ("addrs", addPlain, delPlain), ("policy_allow", addPolicy, delPolicy) })
        {
            List<double> lib = Time(runs, () => nft.Apply(add), () => nft.Apply(del));
            Row($"libnftables      ({set})", lib, null);
            double libMed = Percentile(lib, 0.5);

            List<double> spawn = Time(runs, () => ns.Run(() => Spawn("nft", add.TrimEnd('\n'))), () => ns.Run(() => Spawn("nft", del.TrimEnd('\n'))));
            Row($"spawned nft      ({set})", spawn, libMed);

            List<double> netnsExec = Time(runs, () => Spawn("ip", $"netns exec {ns.Name} nft {add.TrimEnd('\n')}"), () => Spawn("ip", $"netns exec {ns.Name} nft {del.TrimEnd('\n')}"));
            Row($"ip netns exec nft ({set})", netnsExec, libMed);
            Console.WriteLine($"  => libnftables is {Percentile(spawn, 0.5) / libMed:F1}x faster than spawning nft, {Percentile(netnsExec, 0.5) / libMed:F1}x faster than ip netns exec nft (target >= 5x)");
        }

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

    private static List<double> Time(int runs, Action add, Action del)
    {
        add();
        del(); // warm-up
        var samples = new List<double>(runs * 2);
        for (int i = 0; i < runs; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            add();
            long t1 = Stopwatch.GetTimestamp();
            del();
            long t2 = Stopwatch.GetTimestamp();
            samples.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            samples.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
        }

        samples.Sort();
        return samples;
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
