Console.Error.WriteLine("usage: weft-bench <area>"); return 2;
