using System.Diagnostics;
using System.Text.Json;
using Weft.Linux;
using Weft.TestSupport;

namespace Weft.Lab.Tests;

/// <summary>
/// End-to-end: the built bin/weft drives real weft-server, weft-agent and weft-cni processes in lab
/// namespaces. Each test has its own lab and removes it, also when it fails.
/// </summary>
public class LabEndToEndTests
{
    private static void AssertConnects(WeftRun r) => Assert.True(r.ExitCode == 0, "expected every attempt to connect: " + r);
    private static void AssertBlocked(WeftRun r)
    {
        Assert.True(r.ExitCode == 1, "expected no attempt to connect: " + r);
        Assert.DoesNotContain(" ok ", r.Stdout);
    }

    /// <summary>
    /// How long a change (a policy, a restarted or new instance, a registry report) may take to show. A liveness
    /// bound, not a speed goal (those live in bench/): generous, because CI runs the test projects in parallel on
    /// 2 cores, and a waited-for change that happens at once costs nothing.
    /// </summary>
    private static readonly TimeSpan Eventually = TimeSpan.FromSeconds(60);

    /// <summary>Runs curl until it connects or <see cref="Eventually"/> passes; returns the last run.</summary>
    private static WeftRun CurlUntilConnected(TestLab lab, params string[] args)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var r = lab.Run(["lab", "curl", .. args]);
            if (r.ExitCode == 0 || sw.Elapsed > Eventually) return r;
            Thread.Sleep(50);
        }
    }

    [RootFact]
    public void The_demo_scenario_policies_apply_at_once_survive_a_restart_and_cover_new_instances()
    {
        using var lab = new TestLab();
        // The demo on its own lab: matrix before (nothing) and after (appA -> appB, appA -> appC only).
        var demo = lab.Weft.Run(["lab", "demo", "--name", lab.Name]);
        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("as the policies say.", demo.Stdout);

        // The same facts, asked one by one (one attempt each; a generous --timeout: the default 1 s covers the
        // answer of the app's server process too, which a loaded machine can miss).
        AssertConnects(lab.Run("lab", "curl", "appA", "appB", "--timeout", "30000"));
        AssertConnects(lab.Run("lab", "curl", "appA", "appC", "--timeout", "30000"));
        AssertBlocked(lab.Run("lab", "curl", "appB", "appC"));
        AssertBlocked(lab.Run("lab", "curl", "appB", "appA"));
        AssertBlocked(lab.Run("lab", "curl", "appC", "appB"));
        // The policy is for tcp/8080: udp to the same port stays closed.
        AssertBlocked(lab.Run("lab", "curl", "appA", "appB", "--udp"));

        // A new policy takes effect without restarting anything.
        lab.Weft.Ok("policy", "add", "appB", "appC", "--protocol", "udp", "--port", "8080", "--profile", "lab-" + lab.Name);
        AssertConnects(CurlUntilConnected(lab, "appB", "appC", "--udp"));
        AssertBlocked(lab.Run("lab", "curl", "appB", "appC"));

        // The policy survives restarting appB: a new container (new id, maybe a new IP) for the same app.
        var before = Instances(lab, "appB");
        lab.Ok("lab", "restart", "appB");
        var after = Instances(lab, "appB");
        Assert.NotEqual(before[0].ContainerId, after[0].ContainerId);
        AssertConnects(CurlUntilConnected(lab, "appA", "appB"));
        AssertBlocked(lab.Run("lab", "curl", "appC", "appB"));

        // Scaling appA to 3 instances across both cells: every instance reaches appB.
        lab.Ok("lab", "push", "appA", "--instances", "3");
        var a = Instances(lab, "appA");
        Assert.Equal(3, a.Count);
        Assert.Equal(["cell-1", "cell-2"], a.Select(i => i.Cell).Distinct().Order());
        var scaled = CurlUntilConnected(lab, "appA", "appB");
        AssertConnects(scaled);
        Assert.Equal(3, scaled.Stdout.Split('\n').Count(l => l.Contains(" ok appB/0 ")));

        // The CLI's views of the deployment.
        var policies = lab.Weft.Ok("policy", "list", "--profile", "lab-" + lab.Name);
        Assert.Contains("appA    appB         tcp       8080", policies);
        var apps = lab.Weft.Ok("app", "list", "--profile", "lab-" + lab.Name);
        Assert.Contains("appA", apps);
        // The server's registry (reported by each cell's agent) knows every instance's IP, cluster-wide.
        foreach (var app in new[] { "appA", "appB" })
        {
            var want = Instances(lab, app).Select(i => i.Ip!).Order().ToList();
            var id = AppId(lab, app);
            List<string> got = [];
            var deadline = DateTime.UtcNow + Eventually;
            do
            {
                using var doc = JsonDocument.Parse(lab.Weft.Ok("app", "list", "--json", "--profile", "lab-" + lab.Name));
                got = doc.RootElement.GetProperty("apps").EnumerateArray()
                    .Where(x => x.GetProperty("id").GetString() == id)
                    .SelectMany(x => x.GetProperty("instances").EnumerateArray().Select(i => i.GetProperty("ip").GetString()!))
                    .Order().ToList();
                if (got.SequenceEqual(want)) break;
                Thread.Sleep(100);
            }
            while (DateTime.UtcNow < deadline);
            Assert.Equal(want, got);
        }
        var leases = lab.Weft.Ok("lease", "list", "--profile", "lab-" + lab.Name);
        Assert.Contains("198.18.0.11", leases);
        Assert.Contains("198.18.0.12", leases);
    }

    private sealed record Instance(int Index, string Cell, string? Ip, string ContainerId);

    private static string AppId(TestLab lab, string app)
    {
        using var doc = JsonDocument.Parse(lab.Ok("lab", "status", "--json"));
        return doc.RootElement.GetProperty("apps").EnumerateArray().First(x => x.GetProperty("name").GetString() == app).GetProperty("id").GetString()!;
    }

    private static List<Instance> Instances(TestLab lab, string app)
    {
        using var doc = JsonDocument.Parse(lab.Ok("lab", "status", "--json"));
        var a = doc.RootElement.GetProperty("apps").EnumerateArray().First(x => x.GetProperty("name").GetString() == app);
        return a.GetProperty("instances").EnumerateArray()
            .Select(i => new Instance(i.GetProperty("index").GetInt32(), i.GetProperty("cell").GetString()!, i.GetProperty("ip").GetString(), i.GetProperty("containerId").GetString()!))
            .ToList();
    }

    [RootFact]
    public void A_bare_namespace_reaches_nothing_and_once_wired_by_weft_cni_reaches_what_policy_allows()
    {
        using var lab = new TestLab();
        lab.Ok("lab", "up", "--cells", "2");
        lab.Ok("lab", "push", "appB", "--cell", "2");
        lab.Ok("lab", "push", "appC", "--cell", "2");
        var b = Instances(lab, "appB")[0].Ip!;

        // Only loopback: no route to anything.
        using (var bare = TestNetns.Create("bare"))
        {
            var r = Weft.Cli.Lab.Curl.Probe(bare.Name, "bare", "appB/0", b, 8080, false, TimeSpan.FromMilliseconds(500)).GetAwaiter().GetResult();
            Assert.False(r.Ok);
            Assert.Equal("network unreachable", r.Error);
        }

        // Wired by weft-cni (weft lab push runs it in the cell's namespace): default deny, then the policy's reach.
        lab.Ok("lab", "push", "wired", "--cell", "1");
        AssertBlocked(lab.Run("lab", "curl", "wired", "appB"));
        lab.Weft.Ok("policy", "add", "wired", "appB", "--profile", "lab-" + lab.Name);
        AssertConnects(CurlUntilConnected(lab, "wired", "appB"));
        AssertBlocked(lab.Run("lab", "curl", "wired", "appC"));
    }

    [RootFact]
    public void Down_leaves_no_namespace_process_or_file_and_up_after_down_works()
    {
        var rootBefore = RootNamespace();
        using var lab = new TestLab();
        lab.Ok("lab", "up", "--cells", "2");
        lab.Ok("lab", "up", "--cells", "2"); // idempotent
        lab.Ok("lab", "push", "appA", "--instances", "2");
        using var status = JsonDocument.Parse(lab.Ok("lab", "status", "--json"));
        var pids = new List<int> { status.RootElement.GetProperty("server").GetProperty("pid").GetInt32() };
        pids.AddRange(status.RootElement.GetProperty("cells").EnumerateArray().Select(c => c.GetProperty("agentPid").GetInt32()));
        pids.AddRange(status.RootElement.GetProperty("apps").EnumerateArray().SelectMany(a => a.GetProperty("instances").EnumerateArray()).Select(i => i.GetProperty("pid").GetInt32()));
        Assert.Equal(2 + 1 + 2, pids.Count);
        Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}"), $"pid {pid} should run"));
        var runDir = status.RootElement.GetProperty("runDir").GetString()!;
        Assert.Equal(RootNamespace(), rootBefore);

        lab.Ok("lab", "down");
        Assert.DoesNotContain(NetNs.List(), n => n.StartsWith($"weft-lab-{lab.Name}-", StringComparison.Ordinal));
        Assert.All(pids, pid => Assert.False(Running(pid), $"pid {pid} should be gone"));
        Assert.False(Directory.Exists(runDir));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(runDir)!, "." + lab.Name + ".lock")));
        Assert.Equal(rootBefore, RootNamespace());
        Assert.Equal(1, lab.Run("lab", "status").ExitCode);

        // up after down works.
        lab.Ok("lab", "up", "--cells", "1");
        lab.Ok("lab", "push", "appA");
        lab.Ok("lab", "push", "appB");
        lab.Weft.Ok("policy", "add", "appA", "appB", "--profile", "lab-" + lab.Name);
        AssertConnects(CurlUntilConnected(lab, "appA", "appB"));
        lab.Ok("lab", "down");
        Assert.Equal(rootBefore, RootNamespace());
    }

    /// <summary>
    /// True if <paramref name="pid"/> is a live process (not a zombie). `lab down` returns once its processes are
    /// zombies; init may reap one between the look at /proc/PID and the read of its stat, which means gone too.
    /// </summary>
    private static bool Running(int pid)
    {
        try { return !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal); }
        catch (IOException) { return false; } // no such process (any more)
    }

    /// <summary>
    /// What of the lab could show up in the root namespace: links, routes and nft tables or rules that
    /// name weft, a w- veth, the underlay 198.18.0.0/15 or the overlay 10.255.0.0/16. (Only these lines:
    /// other tests running in parallel, e.g. podman's, may change the rest of the root namespace.)
    /// </summary>
    private static string RootNamespace()
    {
        string Sh(string cmd)
        {
            var psi = new ProcessStartInfo("/bin/sh", ["-c", cmd]) { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var s = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return s;
        }
        const string ours = "grep -E 'weft|(^| )w-|198\\.1[89]\\.|10\\.255\\.' | sort";
        return "links:\n" + Sh("ip -o link show | awk -F': ' '{print $2}' | " + ours) + "routes:\n" + Sh("ip route show table all | " + ours)
            + "addresses:\n" + Sh("ip -o addr show | " + ours) + "nft:\n" + Sh("nft list ruleset | " + ours);
    }
}

public class CliErrorTests
{
    [Fact]
    public void Without_a_profile_the_policy_commands_say_what_to_do()
    {
        using var weft = new WeftBin();
        var r = weft.Run("policy", "list");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no profile", r.Stderr);
        Assert.Contains("weft lab up", r.Stderr);
    }

    [Fact]
    public void Bad_input_is_a_usage_error_with_a_hint()
    {
        using var weft = new WeftBin();
        var r = weft.Run("policy", "add", "appA", "appB", "--port", "70000");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("invalid --port '70000'", r.Stderr);
        Assert.Equal(2, weft.Run("lab", "up", "--cells", "0").ExitCode);
        Assert.Contains("unknown command 'polciy'", weft.Run("polciy").Stderr);
    }

    [Fact]
    public void Completion_scripts_name_every_command()
    {
        using var weft = new WeftBin();
        var bash = weft.Ok("completion", "bash");
        Assert.Contains("complete -o default -F _weft weft", bash);
        foreach (var w in new[] { "policy", "lease", "app", "agent", "lab", "profile" }) Assert.Contains(w, bash);
        Assert.Contains("bashcompinit", weft.Ok("completion", "zsh"));
    }

    [Fact]
    public void Profiles_are_set_shown_and_removed()
    {
        using var weft = new WeftBin();
        var token = Path.GetTempFileName();
        try
        {
            weft.Ok("profile", "set", "prod", "--server", "http://127.0.0.1:4002", "--token-file", token);
            Assert.Contains("http://127.0.0.1:4002", weft.Ok("profile", "show"));
            Assert.Contains("* ", weft.Ok("profile", "list"));
            // Nothing listens there: the error says the server is unreachable and what to check.
            var r = weft.Run("policy", "list");
            Assert.Equal(3, r.ExitCode);
            Assert.Contains("cannot reach the server at http://127.0.0.1:4002", r.Stderr);
            weft.Ok("profile", "remove", "prod");
            Assert.Equal(2, weft.Run("policy", "list").ExitCode);
        }
        finally { File.Delete(token); }
    }
}
