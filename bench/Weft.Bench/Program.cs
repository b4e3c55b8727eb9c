if (args.Length > 0 && args[0] == "server") return Weft.Bench.ServerBench.Run(args[1..]);
Console.Error.WriteLine("usage: weft-bench <area>"); return 2;
