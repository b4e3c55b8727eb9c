return args.FirstOrDefault() switch
{
    "linux" => Weft.Bench.LinuxBench.Run(args[1..]),
    "nft" => Weft.Bench.NftBench.Run(args[1..]),
    "server" => Weft.Bench.ServerBench.Run(args[1..]),
    "cni" => Weft.Bench.CniBench.Run(args[1..]),
    "agent" => Weft.Bench.AgentBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: weft-bench <area> [options]\n  linux [--n 200]   netlink (Weft.Linux) vs `ip` subprocesses: veth create/delete, route add/delete\n  nft [--elements 10000] [--runs 200]   libnftables vs spawned nft: set-element change; full rebuild of 10k/50k sets\n  server            weft-server API\n  cni               weft-cni ADD/DEL\n  agent [nft|throughput|propagation] [--sizes 10000,50000] [--policies 120]   the agent's table, throughput, propagation over 3 cells");
    return 2;
}
