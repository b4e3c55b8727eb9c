return args.FirstOrDefault() switch
{
    "cni" => Weft.Bench.CniBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: weft-bench <area> [options]   areas: cni");
    return 2;
}
