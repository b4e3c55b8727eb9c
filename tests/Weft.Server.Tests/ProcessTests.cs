using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Weft.Contracts;
using static Weft.Server.Tests.TestServer;

namespace Weft.Server.Tests;

/// <summary>The real weft-server executable (dotnet weft-server.dll from the test output directory).</summary>
public sealed class ServerProcess : IDisposable
{
    private readonly Process _p;
    private readonly ConcurrentQueue<string> _output = new();
    public int ExternalPort { get; private set; }
    public int InternalPort { get; private set; }

    private ServerProcess(Process p)
    {
        _p = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    public string Output => string.Join('\n', _output);
    public int Pid => _p.Id;

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "weft-server.dll");

    public static (int ExitCode, string Output) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit(60_000);
        return (p.ExitCode, o.Result + e.Result);
    }

    // "weft-server listening: external http://127.0.0.1:41234/, internal (mTLS) https://127.0.0.1:40321/, database Sqlite"
    private static readonly Regex Listening = new(@"weft-server listening: external \S+:(\d+)/, internal \(mTLS\) \S+:(\d+)/");

    /// <summary>
    /// Starts the server from DIR/weft-server.json on loopback, both listeners on port 0 (the kernel picks free
    /// ports as it binds them: a port picked "free" beforehand could be taken by another test process before the
    /// server binds it), reads the bound ports from its "listening" line and waits until /health answers.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(string dir, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Dll);
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(Path.Combine(dir, "weft-server.json"));
        psi.Environment["WEFT_SERVER__EXTERNAL__ADDRESS"] = "127.0.0.1";
        psi.Environment["WEFT_SERVER__EXTERNAL__PORT"] = "0";
        psi.Environment["WEFT_SERVER__INTERNAL__ADDRESS"] = "127.0.0.1";
        psi.Environment["WEFT_SERVER__INTERNAL__PORT"] = "0";
        psi.Environment["WEFT_SERVER__LOGGING__FORMAT"] = "simple";
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        var sp = new ServerProcess(Process.Start(psi)!);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (sp._p.HasExited) throw new InvalidOperationException($"weft-server exited ({sp._p.ExitCode}):\n{sp.Output}");
            if (sp.ExternalPort == 0 && sp._output.Select(l => Listening.Match(l)).FirstOrDefault(m => m.Success) is { } m)
            {
                sp.ExternalPort = int.Parse(m.Groups[1].Value);
                sp.InternalPort = int.Parse(m.Groups[2].Value);
            }
            if (sp.ExternalPort != 0)
            {
                try
                {
                    if ((await http.GetAsync($"http://127.0.0.1:{sp.ExternalPort}/health")).StatusCode == HttpStatusCode.OK) return sp;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
            }
            await Task.Delay(100);
        }
        sp.Dispose();
        throw new TimeoutException("weft-server did not become healthy:\n" + sp.Output);
    }

    public void Kill9()
    {
        // SIGKILL by pid: no shutdown code runs.
        using var kill = Process.Start("kill", ["-9", _p.Id.ToString()]);
        kill.WaitForExit();
        _p.WaitForExit(10_000);
    }

    public void Dispose()
    {
        if (!_p.HasExited) { try { _p.Kill(entireProcessTree: true); _p.WaitForExit(10_000); } catch { } }
        _p.Dispose();
    }
}

public sealed class ProcessTests
{
    [Fact]
    public async Task Init_then_run_from_the_config_works_end_to_end()
    {
        var dir = Path.Combine(Path.GetTempPath(), "weft-init-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, output) = ServerProcess.Run("init", "--dir", dir, "--server-ip", "198.18.0.2", "--agent-names", "cell-1,cell-2,cell-3");
            Assert.True(code == 0, output);
            foreach (var f in new[] { "ca.crt", "ca.key", "server.crt", "server.key", "admin.token", "tokens.json", "weft-server.json", "agents/cell-3.crt", "agents/cell-3.key" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca.key")));
            var admin = File.ReadAllText(Path.Combine(dir, "admin.token")).Trim();
            Assert.DoesNotContain(admin, File.ReadAllText(Path.Combine(dir, "tokens.json"))); // stored hashed
            var server = Weft.Server.Security.Certificates.LoadCertificate(Path.Combine(dir, "server.crt"));
            var san = server.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509SubjectAlternativeNameExtension>().Single();
            Assert.Contains(IPAddress.Parse("198.18.0.2"), san.EnumerateIPAddresses());

            // A second init refuses to overwrite.
            (code, output) = ServerProcess.Run("init", "--dir", dir);
            Assert.Equal(1, code);
            Assert.Contains("--force", output);

            (code, var writeToken) = ServerProcess.Run("token", "add", "--config", Path.Combine(dir, "weft-server.json"), "--subject", "alice", "--scope", "network.write");
            Assert.True(code == 0, writeToken);
            writeToken = writeToken.Trim();
            (code, output) = ServerProcess.Run("agent-cert", "--dir", dir, "--name", "cell-4");
            Assert.True(code == 0, output);

            using var proc = await ServerProcess.StartAsync(dir);
            using var ext = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proc.ExternalPort}/") };
            var req = new HttpRequestMessage(HttpMethod.Post, "/networking/v1/external/policies")
            {
                Content = new StringContent(Batch(Policy("a", "b"))),
            };
            req.Headers.TryAddWithoutValidation("Authorization", "Bearer " + writeToken);
            Assert.Equal(HttpStatusCode.OK, (await ext.SendAsync(req)).StatusCode);
            var who = new HttpRequestMessage(HttpMethod.Get, "/networking/v1/external/whoami");
            who.Headers.TryAddWithoutValidation("Authorization", "Bearer " + admin);
            Assert.Equal("""{"subject":"admin"}""", await (await ext.SendAsync(who)).Content.ReadAsStringAsync());

            using var agent = MtlsClient(Path.Combine(dir, "agents", "cell-4.crt"), Path.Combine(dir, "agents", "cell-4.key"), Path.Combine(dir, "ca.crt"),
                new Uri($"https://127.0.0.1:{proc.InternalPort}/"));
            var body = await agent.GetStringAsync("/networking/v1/internal/policies");
            Assert.Contains("\"tag\":\"0001\"", body);
            Assert.Contains("weft-server listening", proc.Output);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Bad_config_fails_with_a_clear_message()
    {
        var (code, output) = ServerProcess.Run("--config", "/nonexistent/weft-server.json");
        Assert.Equal(1, code);
        Assert.Contains("weft-server init", output);
        (code, output) = ServerProcess.Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("usage:", output);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Kill_9_during_a_burst_loses_no_acknowledged_create_sqlite()
    {
        var dir = InitDir();
        try { await Durability.KillDuringBurstAsync(dir); }
        finally { Directory.Delete(dir, true); }
    }
}

internal static class Durability
{
    /// <summary>kill -9 during a burst of creates: every create answered 200 is there after a restart.</summary>
    public static async Task KillDuringBurstAsync(string dir, Dictionary<string, string>? env = null)
    {
        var admin = File.ReadAllText(Path.Combine(dir, "admin.token")).Trim();
        var proc = await ServerProcess.StartAsync(dir, env: env);
        var acknowledged = new ConcurrentBag<string>();
        // A generous timeout: a worker that gives up takes an answer for "the server is gone" and stops.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proc.ExternalPort}/"), Timeout = TimeSpan.FromSeconds(60) };
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var src = $"burst-{w}-{i}";
                var req = new HttpRequestMessage(HttpMethod.Post, "/networking/v1/external/policies") { Content = new StringContent(Batch(Policy(src, "sink"))) };
                req.Headers.TryAddWithoutValidation("Authorization", "Bearer " + admin);
                try
                {
                    using var r = await http.SendAsync(req);
                    if (r.StatusCode == HttpStatusCode.OK) acknowledged.Add(src);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    return; // the server is gone
                }
            }
        })).ToArray();
        while (acknowledged.Count < 150 && !workers.All(w => w.IsCompleted)) await Task.Delay(20);
        Assert.True(acknowledged.Count >= 150, $"the workers stopped after {acknowledged.Count} acknowledged creates:\n{proc.Output}");
        proc.Kill9();
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        proc.Dispose();

        using var restarted = await ServerProcess.StartAsync(dir, env: env);
        using var http2 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{restarted.ExternalPort}/") };
        var list = new HttpRequestMessage(HttpMethod.Get, "/networking/v1/external/policies?dest_id=sink");
        list.Headers.TryAddWithoutValidation("Authorization", "Bearer " + admin);
        var body = await (await http2.SendAsync(list)).Content.ReadAsStringAsync();
        var stored = JsonSerializer.Deserialize(body, WeftJsonContext.Default.PoliciesResponse)!.Policies.Select(p => p.Source!.Id).ToHashSet();
        var lost = acknowledged.Where(a => !stored.Contains(a)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {acknowledged.Count} acknowledged creates lost: {string.Join(',', lost.Take(10))}");
        Assert.True(acknowledged.Count >= 150);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresProcessTests(PostgresFixture pg)
{
    [Fact]
    public async Task Kill_9_during_a_burst_loses_no_acknowledged_create_postgres()
    {
        var dir = InitDir();
        try
        {
            var cs = await pg.CreateDatabaseAsync();
            await KillDuringBurst(dir, cs);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static Task KillDuringBurst(string dir, string cs) => Durability.KillDuringBurstAsync(dir, new()
    {
        ["WEFT_SERVER__DATABASE__ENGINE"] = "postgres",
        ["WEFT_SERVER__DATABASE__CONNECTIONSTRING"] = cs,
    });

    [Fact]
    public async Task Replica_B_serves_replica_A_s_creates_and_deletes_once_notified()
    {
        var cs = await pg.CreateDatabaseAsync();
        var dir = InitDir();
        await using var a = await StartAsync(cs, dir: dir);
        await using var b = await StartAsync(cs, dir: dir);
        const string internalPath = "/networking/v1/internal/policies";
        await a.CreateAsync(Policy("x", "y"), Policy("y", "z"));
        await WaitForRevisionAsync(b, await RevisionAsync(a));
        // B's views are now loaded and cached; A keeps writing.
        Assert.Equal((await a.Int(HttpMethod.Get, internalPath)).Body, (await b.Int(HttpMethod.Get, internalPath)).Body);
        await a.Ext(HttpMethod.Post, "/networking/v1/external/policies/delete", Batch(Policy("x", "y")));
        await a.CreateAsync(Policy("w", "y"));
        await WaitForRevisionAsync(b, await RevisionAsync(a));
        // x left every policy: its tag is freed, and w took it (lowest free), on both replicas alike.
        var (_, onB) = await b.Int(HttpMethod.Get, internalPath);
        Assert.Equal((await a.Int(HttpMethod.Get, internalPath)).Body, onB);
        Assert.Equal("""{"total_policies":2,"policies":[{"source":{"id":"y","tag":"0002"},"destination":{"id":"z","tag":"0003","protocol":"tcp","ports":{"start":8080,"end":8080}}},{"source":{"id":"w","tag":"0001"},"destination":{"id":"y","tag":"0002","protocol":"tcp","ports":{"start":8080,"end":8080}}}]}""", onB);
        Assert.Equal((await a.Ext(HttpMethod.Get, "/networking/v1/external/policies")).Body, (await b.Ext(HttpMethod.Get, "/networking/v1/external/policies")).Body);
        Assert.Equal("""{"total_policies":0,"policies":[]}""", (await b.Int(HttpMethod.Get, internalPath + "?id=x")).Body);
        Directory.Delete(dir, true);
    }

    private static async Task<long> RevisionAsync(TestServer s) =>
        Json((await s.Int(HttpMethod.Get, "/weft/v1/watch?since=0&timeout=0s")).Body).GetProperty("revision").GetInt64();

    /// <summary>Waits (watching, no sleeps) until <paramref name="s"/> knows revision <paramref name="revision"/>.</summary>
    private static async Task WaitForRevisionAsync(TestServer s, long revision)
    {
        while (true)
        {
            var (_, body) = await s.Int(HttpMethod.Get, $"/weft/v1/watch?since={revision - 1}&timeout=30s");
            if (Json(body).GetProperty("revision").GetInt64() >= revision) return;
        }
    }

    [Fact]
    public async Task A_policy_created_on_replica_A_wakes_a_watcher_on_replica_B()
    {
        var cs = await pg.CreateDatabaseAsync();
        var dir = InitDir();
        await using var a = await StartAsync(cs, dir: dir);
        await using var b = await StartAsync(cs, dir: dir);
        var (_, body) = await b.Int(HttpMethod.Get, "/weft/v1/watch?since=0&timeout=0s");
        var rev = Json(body).GetProperty("revision").GetInt64();
        var watch = b.Int(HttpMethod.Get, $"/weft/v1/watch?since={rev}&timeout=30s&kinds=policies");
        await Task.Delay(300);
        Assert.False(watch.IsCompleted);
        await a.CreateAsync(Policy("from-a", "to-b"));
        var (status, woke) = await watch.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(200, status);
        Assert.Equal("""["policies"]""", Json(woke).GetProperty("changed").GetRawText());
        // And B serves the new state right away.
        var (_, policies) = await b.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=from-a");
        Assert.Equal(1, Json(policies).GetProperty("total_policies").GetInt32());
        // Leases acquired on both replicas never collide.
        var acquires = await Task.WhenAll(Enumerable.Range(1, 20).Select(i =>
            (i % 2 == 0 ? a : b).Int(HttpMethod.Put, "/weft/v1/leases/acquire", $$"""{"underlay_ip":"198.18.5.{{i}}"}""")));
        Assert.All(acquires, r => Assert.Equal(200, r.Status));
        Assert.Equal(20, acquires.Select(r => Json(r.Body).GetProperty("overlay_subnet").GetString()).Distinct().Count());
        Directory.Delete(dir, true);
    }
}
