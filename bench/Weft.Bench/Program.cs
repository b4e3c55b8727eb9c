return args.FirstOrDefault() switch
{
    "linux" => Weft.Bench.LinuxBench.Run(args[1..]),
    "cni" => Weft.Bench.CniBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: weft-bench <area> [options]
          linux [--n 200]   netlink (Weft.Linux) vs `ip` subprocesses: veth create/delete, route add/delete
          cni [--runs 60]   weft-cni ADD/DEL latency vs the reference ptp + host-local, and weft-cni's peak RSS
        """);
    return 2;
}
