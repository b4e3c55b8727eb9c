return args.Length > 0 && args[0] == "linux"
    ? Weft.Bench.LinuxBench.Run(args[1..])
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: weft-bench <area> [options]\n  linux [--n 200]   netlink (Weft.Linux) vs `ip` subprocesses: veth create/delete, route add/delete");
    return 2;
}
