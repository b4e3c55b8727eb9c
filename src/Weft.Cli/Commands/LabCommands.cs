using System.Diagnostics;
using System.Text.Json;
using Weft.Cli.Cli;
using Weft.Cli.Lab;

namespace Weft.Cli.Commands;

/// <summary>weft lab …: a whole Weft deployment inside network namespaces on this machine.</summary>
public static class LabCommands
{
    public const string Usage = """
        usage: weft lab COMMAND [--name LAB]     (LAB defaults to "default"; several labs can coexist)
          up [--cells N]                           fabric, control plane, N cells (default 2) with agents; idempotent
          push APP [--cell K] [--instances N] [--port 8080]
                                                   make APP have N instances (containers via weft-cni), each serving
                                                   "APP/INDEX IP" on tcp and udp PORT
          restart APP[/INDEX]                      replace instances by new containers (same app, index and cell)
          exec APP[/INDEX] -- CMD...               run CMD inside an instance's network namespace
          curl SRC[/I] DST[/I] [--port P] [--udp] [--timeout MS]
                                                   connect from SRC's instances to DST's; exit 0 only if all connected
          status [--json]                          server, token, cells, leases, apps, instances, IPs, namespaces
          down [--all]                             remove everything the lab created (--all: every lab)
          demo [--down]                            the c2c policy demo on lab "demo" (left up to explore)
          list                                     the labs on this machine
        """;

    public static async Task<int> Run(string verb, Args args, Context ctx)
    {
        switch (verb)
        {
            case "up": return Up(args, ctx);
            case "push": return Push(args, ctx);
            case "restart": return Restart(args, ctx);
            case "exec": return Exec(args, ctx);
            case "curl": return await CurlCmd(args, ctx);
            case "status": return Status(args, ctx);
            case "down": return Down(args, ctx);
            case "demo": return await Demo.Run(args, ctx);
            case "list": return List(args, ctx);
            case "serve": return ServeCmd(args, ctx);
            default:
                throw new CliException(verb == "" ? "missing lab command" : $"unknown lab command '{verb}'", Usage, ExitCodes.Usage);
        }
    }

    private static LabPlan PlanOf(Args args) => LabPlan.For(args.Option("name"));

    private static int Up(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        var cells = args.IntOption("cells", 2, 1, LabPlan.MaxCells);
        args.Done();
        using var lab = LabRunner.Open(plan, ctx.Out);
        var p = new Progress(ctx.Out);
        ctx.Out.WriteLine($"lab {plan.Name}: up with {cells} cells");
        lab.Up(cells, p, ctx.Cancel);
        var st = lab.RequireUp();
        ctx.Out.WriteLine($"lab {plan.Name} is up ({p.Elapsed.TotalSeconds:0.0} s): server {st.Server!.Url} in {st.Server.Netns}, {st.Cells.Count} cells; profile {plan.ProfileName} is current");
        ctx.Out.WriteLine($"next: weft lab push appA{NameArg(plan)}   weft lab status{NameArg(plan)}");
        return ExitCodes.Ok;
    }

    internal static string NameArg(LabPlan plan) => plan.Name == LabPlan.DefaultName ? "" : " --name " + plan.Name;

    private static int Push(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        var app = args.Positional("APP name");
        var cellText = args.Option("cell");
        int? cell = cellText is null ? null : ParseCell(cellText);
        var instances = args.IntOption("instances", 1, 1, 100);
        var port = args.IntOption("port", 8080, 1, 65535);
        args.Done();
        using var lab = LabRunner.Open(plan, ctx.Out);
        var pushed = lab.Push(app, cell, instances, port, new Progress(ctx.Out), ctx.Cancel);
        foreach (var i in pushed.Instances) ctx.Out.WriteLine($"{pushed.Name}/{i.Index}  {i.Ip}  {i.Cell}  {i.Netns}");
        return ExitCodes.Ok;
    }

    /// <summary>"2" or "cell-2".</summary>
    internal static int ParseCell(string s)
    {
        var t = s.StartsWith("cell-", StringComparison.Ordinal) ? s[5..] : s;
        return int.TryParse(t, out var k) && k >= 1 ? k : throw new CliException($"invalid --cell '{s}'", "use a cell number or name: --cell 2 or --cell cell-2", ExitCodes.Usage);
    }

    private static int Restart(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        var spec = args.Positional("APP or APP/INDEX");
        args.Done();
        using var lab = LabRunner.Open(plan, ctx.Out);
        var slash = spec.IndexOf('/');
        int? index = slash < 0 ? null : int.TryParse(spec[(slash + 1)..], out var ix) ? ix : throw new CliException($"invalid instance '{spec}'", "use APP or APP/INDEX, e.g. appB/0", ExitCodes.Usage);
        lab.Restart(slash < 0 ? spec : spec[..slash], index, new Progress(ctx.Out));
        return ExitCodes.Ok;
    }

    private static int Exec(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        var spec = args.Positional("APP[/INDEX]");
        args.Done();
        if (args.Rest.Count == 0) throw new CliException("missing the command to run", "e.g. weft lab exec appA/0 -- ip addr", ExitCodes.Usage);
        string netns;
        using (var lab = LabRunner.Open(plan, ctx.Out))
            netns = lab.Select(spec)[0].Instance.Netns;
        var psi = new ProcessStartInfo("nsenter") { UseShellExecute = false };
        psi.ArgumentList.Add("--net=/run/netns/" + netns);
        psi.ArgumentList.Add("--");
        foreach (var a in args.Rest) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    private static async Task<int> CurlCmd(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        var src = args.Positional("SOURCE app (APP or APP/INDEX)");
        var dst = args.Positional("DESTINATION app (APP, APP/INDEX or an IP)");
        var udp = args.Flag("udp");
        var portOpt = args.Has("port") ? args.IntOption("port", 8080, 1, 65535) : (int?)null;
        var timeout = TimeSpan.FromMilliseconds(args.IntOption("timeout", (int)Curl.DefaultTimeout.TotalMilliseconds, 50, 60000));
        args.Done();
        List<CurlResult> results;
        using (var lab = LabRunner.Open(plan, ctx.Out))
            results = await Probes(lab, src, dst, portOpt, udp, timeout);
        if (ctx.Json) ctx.Out.WriteLine(JsonSerializer.Serialize(results, CliJson.Default.ListCurlResult));
        else foreach (var r in results) ctx.Out.WriteLine(r.ToString());
        return results.Count > 0 && results.All(r => r.Ok) ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>Every source instance × every destination instance, concurrently.</summary>
    internal static async Task<List<CurlResult>> Probes(LabRunner lab, string src, string dst, int? port, bool udp, TimeSpan timeout)
    {
        var sources = lab.Select(src);
        List<(string Label, string Ip, int Port)> targets;
        if (System.Net.IPAddress.TryParse(dst, out _))
            targets = [(dst, dst, port ?? 8080)];
        else
            targets = lab.Select(dst).Where(t => t.Instance.Ip is not null).Select(t => ($"{t.App.Name}/{t.Instance.Index}", t.Instance.Ip!, port ?? t.App.Port)).ToList();
        var tasks = from s in sources
                    from t in targets
                    select Curl.Probe(s.Instance.Netns, $"{s.App.Name}/{s.Instance.Index}", t.Label, t.Ip, t.Port, udp, timeout);
        return (await Task.WhenAll(tasks)).ToList();
    }

    private static int Status(Args args, Context ctx)
    {
        var plan = PlanOf(args);
        args.Done();
        using var lab = LabRunner.Open(plan, ctx.Out);
        var st = lab.RequireUp();
        var status = LabStatus.Of(st);
        if (ctx.Json) { ctx.Out.WriteLine(JsonSerializer.Serialize(status, CliJson.Default.LabStatus)); return ExitCodes.Ok; }
        ctx.Out.Write(status.Render());
        return ExitCodes.Ok;
    }

    private static int Down(Args args, Context ctx)
    {
        var all = args.Flag("all");
        var plans = all ? LabsOnMachine().Select(LabPlan.For).ToList() : [PlanOf(args)];
        args.Done();
        foreach (var plan in plans)
        {
            using var lab = LabRunner.Open(plan, ctx.Out);
            ctx.Out.WriteLine($"lab {plan.Name}: down");
            var p = new Progress(ctx.Out);
            lab.Down(p);
            ctx.Out.WriteLine($"lab {plan.Name} removed ({p.Elapsed.TotalSeconds:0.0} s)");
        }
        if (plans.Count == 0) ctx.Out.WriteLine("no labs");
        return ExitCodes.Ok;
    }

    /// <summary>Labs with a run directory or a namespace on this machine.</summary>
    internal static IReadOnlyList<string> LabsOnMachine()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(LabPlan.RunRoot))
            foreach (var d in Directory.EnumerateDirectories(LabPlan.RunRoot)) names.Add(Path.GetFileName(d));
        foreach (var ns in LabNet.ListNetns(LabPlan.Prefix))
        {
            var rest = ns[LabPlan.Prefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash > 0) names.Add(rest[..dash]);
        }
        return names.ToList();
    }

    private static int List(Args args, Context ctx)
    {
        args.Done();
        var t = new Table("lab", "cells", "apps", "server", "run dir");
        foreach (var name in LabsOnMachine())
        {
            var st = LabState.Load(LabPlan.For(name).StateFile);
            t.Add(name, st?.Cells.Count.ToString() ?? "?", st?.Apps.Count.ToString() ?? "?", st?.Server?.Url ?? "-", LabPlan.For(name).RunDir);
        }
        ctx.Out.Write(t.Count == 0 ? "no labs (weft lab up)\n" : t.ToString());
        return ExitCodes.Ok;
    }

    private static int ServeCmd(Args args, Context ctx)
    {
        var app = args.Option("app") ?? throw new CliException("missing --app", null, ExitCodes.Usage);
        var index = args.IntOption("index", 0, 0, 10000);
        var ip = args.Option("ip") ?? "0.0.0.0";
        var port = args.IntOption("port", 8080, 1, 65535);
        args.Done();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.Cancel);
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        return Serve.Run(app, index, ip, port, stop.Token);
    }
}
