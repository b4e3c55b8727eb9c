if (args.Length > 0 && args[0] == "nft") return Weft.Bench.NftBench.Run(args[1..]);
Console.Error.WriteLine("usage: weft-bench <area>"); return 2;
