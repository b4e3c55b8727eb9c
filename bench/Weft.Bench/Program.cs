// Caught here so that a failure unwinds through the benches' using blocks: namespaces, servers and
// perf are ended and removed (an unhandled exception would end the process without running them).
try
{
    return args.FirstOrDefault() switch
    {
        "linux" => Weft.Bench.LinuxBench.Run(args[1..]),
        "nft" => Weft.Bench.NftBench.Run(args[1..]),
        "cni" => Weft.Bench.CniBench.Run(args[1..]),
        "server" => Weft.Bench.ServerBench.Run(args[1..]),
        "agent" => Weft.Bench.AgentBench.Run(args[1..]),
        _ => Usage(),
    };
}
catch (Exception e)
{
    Console.Error.WriteLine($"weft-bench: {e}");
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: weft-bench <area> [options]
          linux [--n 200]   netlink (Weft.Linux) vs `ip` subprocesses: veth create/delete, route add/delete
          nft [--elements 10000] [--runs 200]   libnftables vs spawned nft: set-element change; full rebuild of 10k/50k sets
          cni [--runs 60]   weft-cni ADD/DEL latency vs the reference ptp + host-local, and weft-cni's peak RSS
          server [--engine sqlite|postgres|both] [--policies 60000] [--apps 20000] [--clients 100] [--seconds 5] [--ids-per-read 5]   weft-server at CF's validated scale
          agent [nft|throughput|propagation] [--sizes 10000,50000] [--policies 120] [--rounds 15] [--seconds 2] [--profile]
        """);
    return 2;
}
