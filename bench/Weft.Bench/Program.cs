return args.Length > 0 && args[0] == "linux"
    ? Weft.Bench.LinuxBench.Run(args[1..])
    : args.Length > 0 && args[0] == "nft"
    ? Weft.Bench.NftBench.Run(args[1..])
    : args.Length > 0 && args[0] == "server"
    ? Weft.Bench.ServerBench.Run(args[1..])
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: weft-bench <area> [options]\n  linux [--n 200]   netlink (Weft.Linux) vs `ip` subprocesses: veth create/delete, route add/delete\n  nft [--elements 10000] [--runs 200]   libnftables vs spawned nft: set-element change; full rebuild of 10k/50k sets\n  server [--engine sqlite|postgres|both] [--policies 60000] [--apps 20000] [--clients 100] [--seconds 5] [--ids-per-read 5]   weft-server at CF's validated scale");
    return 2;
}
