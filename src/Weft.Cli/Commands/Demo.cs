using System.Diagnostics;
using Weft.Cli.Api;
using Weft.Cli.Cli;
using Weft.Cli.Lab;

namespace Weft.Cli.Commands;

/// <summary>
/// weft lab demo: the c2c documentation's example on a real 2-cell lab. With no policy nothing
/// connects; allow appA→appB and appA→appC; appA reaches both, appB cannot reach appC; the
/// policies apply at once, nothing restarts. Rerunnable: it reuses the lab and clears the demo's
/// policies first.
/// </summary>
public static class Demo
{
    public static readonly string[] Apps = ["appA", "appB", "appC"];

    /// <summary>What the demo expects after its two policies: only appA→appB and appA→appC connect.</summary>
    public static bool Allowed(string src, string dst) => src == "appA" && dst is "appB" or "appC";

    public static async Task<int> Run(Args args, Context ctx)
    {
        var plan = LabPlan.For(args.Option("name", "demo"));
        var downAfter = args.Flag("down");
        args.Done();
        var o = ctx.Out;
        var total = Stopwatch.StartNew();
        o.WriteLine($"weft lab demo: container-to-container policy on a 2-cell lab ('{plan.Name}'), everything inside network namespaces");
        o.WriteLine();
        using var lab = LabRunner.Open(plan, o);
        var p = new Progress(o);

        o.WriteLine("1. the lab: an underlay bridge, weft-server, 2 cells each running weft-agent");
        lab.Up(2, p, ctx.Cancel);
        var st = lab.RequireUp();
        o.WriteLine();

        o.WriteLine("2. three apps, containers created by weft-cni: appA and appC on cell-1, appB on cell-2");
        lab.Push("appA", 1, 1, 8080, p, ctx.Cancel);
        lab.Push("appB", 2, 1, 8080, p, ctx.Cancel);
        lab.Push("appC", 1, 1, 8080, p, ctx.Cancel);
        o.WriteLine();

        using var client = new WeftClient(LabRunner.ProfileFor(st));
        var ids = Apps.Select(a => st.FindApp(a)!.Id).ToList();
        var old = await client.ListPolicies(ids, ctx.Cancel);
        if (old.Policies.Count > 0) await client.DeletePolicies(old.Policies, ctx.Cancel);

        o.WriteLine("3. no policies: nothing connects (tcp/8080 from every instance to every other app)");
        var before = await Settle(lab, NothingConnects, TimeSpan.FromSeconds(5));
        o.Write(before.Render());
        o.WriteLine();

        o.WriteLine("4. allow appA -> appB and appA -> appC");
        foreach (var dst in new[] { "appB", "appC" })
        {
            o.WriteLine($"   $ weft policy add appA {dst} --protocol tcp --port 8080");
            await client.CreatePolicies([new Policy(new PolicySource(st.FindApp("appA")!.Id), new PolicyDestination(st.FindApp(dst)!.Id, "tcp", new PolicyPorts(8080, 8080)))], ctx.Cancel);
        }
        var applied = Stopwatch.StartNew();
        var a0 = lab.Select("appA")[0].Instance;
        var b0 = lab.Select("appB")[0].Instance;
        while (applied.Elapsed < TimeSpan.FromSeconds(10) && !(await Curl.Probe(a0.Netns, "appA/0", "appB/0", b0.Ip!, 8080, false, TimeSpan.FromMilliseconds(300))).Ok)
            await Task.Delay(10, ctx.Cancel);
        o.WriteLine($"   appA reaches appB {applied.ElapsedMilliseconds} ms after the command returned; nothing was restarted");
        o.WriteLine();

        o.WriteLine("5. with the policies: appA reaches appB and appC; appB cannot reach appC");
        var after = await Settle(lab, AsThePoliciesSay, TimeSpan.FromSeconds(5));
        o.Write(after.Render());
        o.WriteLine();

        var okBefore = NothingConnects(before);
        var okAfter = AsThePoliciesSay(after);
        o.WriteLine(okBefore && okAfter
            ? "as the policies say."
            : "UNEXPECTED: the matrix differs from the policies (weft lab status, and the logs in " + plan.LogDir + ")");
        o.WriteLine();
        LookDeeper(o, plan, st);
        o.WriteLine();
        if (downAfter)
        {
            lab.Down(new Progress(o, quiet: true));
            o.WriteLine($"lab {plan.Name} removed.");
        }
        else
        {
            o.WriteLine($"the lab stays up to explore; remove it with: weft lab down --name {plan.Name}");
        }
        o.WriteLine($"demo took {total.Elapsed.TotalSeconds:0.0} s");
        return okBefore && okAfter ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static bool NothingConnects(Matrix m) => Apps.All(s => Apps.All(d => s == d || m.Get(s, d)!.None));

    private static bool AsThePoliciesSay(Matrix m) => Apps.All(s => Apps.All(d => s == d || (Allowed(s, d) ? m.Get(s, d)!.All : m.Get(s, d)!.None)));

    /// <summary>The matrix, measured again (every 100 ms, up to <paramref name="within"/>) until it is what is expected.</summary>
    private static async Task<Matrix> Settle(LabRunner lab, Func<Matrix, bool> expected, TimeSpan within)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var m = await Measure(lab, Apps);
            if (expected(m) || sw.Elapsed > within) return m;
            await Task.Delay(100);
        }
    }

    public static async Task<Matrix> Measure(LabRunner lab, IReadOnlyList<string> apps)
    {
        var tasks = from s in apps from d in apps where s != d select LabCommands.Probes(lab, s, d, null, false, TimeSpan.FromMilliseconds(500));
        var results = (await Task.WhenAll(tasks)).SelectMany(r => r);
        return Matrix.From(apps, results);
    }

    private static void LookDeeper(TextWriter o, LabPlan plan, LabState st)
    {
        var c1 = st.Cells[0].Netns;
        var a = st.FindApp("appA")!.Instances[0];
        var b = st.FindApp("appB")!.Instances[0];
        var n = LabCommands.NameArg(plan);
        (string Command, string Why)[] lines =
        [
            ($"weft lab status{n}", "cells, leases, instances, IPs, namespaces"),
            ($"weft lab curl appA appB{n}", "connect again; try appB appC"),
            ($"weft policy list --profile {plan.ProfileName}", "the policies, by app name"),
            ($"weft agent state --cell cell-1 --lab {plan.Name}", "what cell-1's agent enforces"),
            ($"ip netns exec {c1} ip route", "the other cell's subnet via weft-vtep"),
            ($"ip netns exec {c1} ip -d link show weft-vtep", "VXLAN id 1, dstport 4789, gbp, nolearning"),
            ($"ip netns exec {c1} bridge fdb show dev weft-vtep", "one FDB entry per remote cell"),
            ($"ip netns exec {c1} nft list table inet weft", "marks by (veth, source IP), the policy set"),
            ($"ip netns exec {st.FabricNetns} tcpdump -ni {LabPlan.Bridge} -c 1 -x udp port 4789 &", "VXLAN header 8800 then appA's tag (its containers element in the table): GBP flag, group policy id"),
            ($"weft lab curl appA appB{n}", "... while the capture runs"),
            ($"weft lab exec appA/0{n} -- ip addr", $"inside appA's container ({a.Ip}); appB is {b.Ip}"),
        ];
        var width = lines.Max(l => l.Command.Length) + 2;
        o.WriteLine("look deeper (the packet's way: docs/walkthrough.md):");
        foreach (var (command, why) in lines) o.WriteLine($"  {command.PadRight(width)}# {why}");
    }
}
