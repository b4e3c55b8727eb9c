using System.Net;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>
/// A real weft-server and a real weft-agent per cell (bin/), cells as namespaces on an underlay bridge,
/// containers attached and recorded as weft-cni does. Policies go through the external API.
/// </summary>
public sealed class EndToEndTests : IDisposable
{
    private readonly WeftCluster _c = new(("ca", "198.18.0.11"), ("cb", "198.18.0.12"));
    private readonly FabricContainer _backend, _backend2, _frontend, _third;

    public EndToEndTests()
    {
        try
        {
            _c.StartAgent("ca");
            _c.StartAgent("cb");
            _backend = _c.AddContainer("ca", "be1", 2, "backend");
            _backend2 = _c.AddContainer("ca", "fe2", 3, "frontend");  // same-cell client
            _frontend = _c.AddContainer("cb", "fe1", 2, "frontend");
            _third = _c.AddContainer("cb", "th1", 3, "third");
            _c.WaitForEnforcement("ca", _backend, _backend2);
            _c.WaitForEnforcement("cb", _frontend, _third);
        }
        catch
        {
            _c.Dispose(); // a constructor that throws is never disposed
            throw;
        }
    }

    public void Dispose() => _c.Dispose();

    private static void Eventually(Func<Task<bool>> probe, string what, WeftCluster c) =>
        WeftCluster.WaitUntil(() => probe().Result, what, () => string.Join("\n", c.AgentLogs.Select(kv => $"--- {kv.Key}\n{kv.Value}")));

    [RootFact]
    public async Task Policies_open_and_close_cross_cell_and_same_cell_traffic()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 9090);
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));

        await _c.CreatePolicy("frontend", "backend", "tcp", 8080, 8085);
        Eventually(() => Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080), "cross-cell TCP to open", _c);
        Eventually(() => Probe.CanConnect(_backend2.Ns, _backend.Ip, 8080), "same-cell TCP to open", _c);
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 9090));   // port outside the range
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));      // a third app

        await _c.CreatePolicy("frontend", "backend", "udp", 5353, 5353);
        using (var tx = Probe.UdpSender(_frontend.Ns))
        using (var third = Probe.UdpSender(_third.Ns))
        {
            var n = 0;
            Eventually(async () =>
            {
                Probe.SendUdp(third, _backend.Ip, 5353, "third");
                Probe.SendUdp(tx, _backend.Ip, 5353, "frontend-" + ++n);
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                try { var buf = new byte[64]; await rx.ReceiveAsync(buf, System.Net.Sockets.SocketFlags.None, cts.Token); return true; }
                catch (OperationCanceledException) { return false; }
            }, "cross-cell UDP to open", _c);
            // Everything that arrived is from the frontend: the third app's datagrams never did.
            Probe.SendUdp(tx, _backend.Ip, 5353, "end");
            string? m;
            while ((m = await Probe.ReceiveUdp(rx)) is not null and not "end") Assert.StartsWith("frontend-", m);
        }

        await _c.DeletePolicy("frontend", "backend", "tcp", 8080, 8085);
        Eventually(async () => !await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080), "TCP to close after the delete", _c);
        Assert.False(await Probe.CanConnect(_backend2.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public async Task Fail_static_keeps_enforcing_and_catches_up_after_the_server_returns()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 8081);
        await _c.CreatePolicy("frontend", "backend", "tcp", 8080, 8080);
        Eventually(() => Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080), "TCP to open", _c);

        _c.StopServer();
        WeftCluster.WaitUntil(() => _c.AgentGet("ca", "/health").Result.Body.Contains("\"server_reachable\": false"), "agent to notice the server is gone");
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));

        // An agent restarted while the server is down enforces its last state from the state dir.
        _c.KillAgent("ca");
        _c.StartAgent("ca");
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));

        _c.StartServer();
        await _c.CreatePolicy("frontend", "backend", "tcp", 8081, 8081);
        Eventually(() => Probe.CanConnect(_frontend.Ns, _backend.Ip, 8081), "a new policy to apply after reconnect", _c);
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public async Task Restarting_the_agent_keeps_an_open_connection_and_opens_nothing()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        await _c.CreatePolicy("frontend", "backend", "tcp", 8080, 8080);
        Eventually(() => Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080), "TCP to open", _c);
        using var conn = await Probe.Connect(_frontend.Ns, _backend.Ip, 8080);
        Assert.NotNull(conn);
        Assert.True(await Probe.Echo(conn!, "before"));

        // Denied UDP from the frontend (no UDP policy) keeps flowing while both agents restart.
        using var tx = Probe.UdpSender(_frontend.Ns);
        var stop = 0;
        var sender = Task.Run(async () =>
        {
            while (Volatile.Read(ref stop) == 0) { Probe.SendUdp(tx, _backend.Ip, 5353, "denied"); await Task.Delay(2); }
        });
        _c.KillAgent("ca");
        _c.StartAgent("ca");
        _c.KillAgent("cb");
        _c.StartAgent("cb");
        Volatile.Write(ref stop, 1);
        await sender;

        Assert.True(await Probe.Echo(conn!, "after"));
        await _c.CreatePolicy("frontend", "backend", "udp", 5353, 5353);
        using var tx2 = Probe.UdpSender(_frontend.Ns);
        string? first = null;
        Eventually(async () =>
        {
            Probe.SendUdp(tx2, _backend.Ip, 5353, "allowed");
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                var buf = new byte[64];
                var n = await rx.ReceiveAsync(buf, System.Net.Sockets.SocketFlags.None, cts.Token);
                first = System.Text.Encoding.ASCII.GetString(buf, 0, n);
                return true;
            }
            catch (OperationCanceledException) { return false; }
        }, "UDP policy to apply", _c);
        Assert.Equal("allowed", first);
    }

    [RootFact]
    public async Task The_agent_reports_containers_to_the_registry_and_serves_its_state()
    {
        WeftCluster.WaitUntil(() => _c.Http(HttpMethod.Get, "/weft/v1/registry", null).Result.Body.Contains("be1"), "the registry to list be1");
        // The app name recorded by weft-cni (or the fixture) reaches the server's app list.
        WeftCluster.WaitUntil(() => _c.Http(HttpMethod.Get, "/weft/v1/apps?id=backend", null).Result.Body.Contains($"\"name\":\"{WeftCluster.AppName("backend")}\""),
            "the server to know the backend's name", () => _c.Http(HttpMethod.Get, "/weft/v1/apps", null).Result.Body);
        var state = await _c.AgentGet("ca", "/state");
        Assert.Equal(200, state.Status);
        Assert.Contains(_backend.Ip.ToString(), state.Body);
        var metrics = await _c.AgentGet("ca", "/metrics");
        Assert.Contains("weft_agent_nft_apply_seconds_bucket", metrics.Body);
        Assert.Contains("weft_agent_local_containers 2", metrics.Body);
    }

    [RootFact]
    public void A_new_container_is_reported_on_its_record_not_at_the_next_resync()
    {
        // cb's agent again, resyncing once an hour: a report within the (liveness) bound below can only have
        // followed the record (a report racing ahead of the record read would send the old set, and nothing
        // would correct it before the resync).
        _c.KillAgent("cb");
        _c.StartAgent("cb", resync: "60m"); // healthy: its first table pass has read the records (nw1's is not there yet)
        var ip = _c.AddContainer("cb", "nw1", 4, "newcomer").Ip.ToString();
        WeftCluster.WaitUntil(() => _c.Http(HttpMethod.Get, "/weft/v1/registry", null).Result.Body.Contains($"\"ip\":\"{ip}\"", StringComparison.Ordinal),
            $"the registry to list {ip} (reported on its record: the agent's resync is an hour away)");
    }
}
