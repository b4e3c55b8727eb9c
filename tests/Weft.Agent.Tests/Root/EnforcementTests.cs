using System.Net;
using Weft.Agent.Dataplane;
using Weft.Agent.Policy;
using Weft.Linux.Nft;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>
/// The nftables table on one cell, fed directly (no server, no agent process): real containers in
/// namespaces, real TCP/UDP between them.
/// </summary>
public sealed class EnforcementTests : IDisposable
{
    private readonly CellFabric _fabric = new();
    private readonly FabricCell _cell;
    private readonly FabricContainer _backend, _frontend, _third;
    private readonly NftEnforcer _nft;
    private readonly LibNftRunner _runner;

    private static readonly PolicyRule Tcp = new("frontend", 1, "backend", 2, "tcp", 8080, 8090);
    private static readonly PolicyRule Udp = new("frontend", 1, "backend", 2, "udp", 5353, 5353);

    public EnforcementTests()
    {
        try
        {
            _cell = _fabric.AddCell("c1", "198.18.0.11");
            _backend = _fabric.AddContainer(_cell, "a", "10.255.12.2");
            _frontend = _fabric.AddContainer(_cell, "b", "10.255.12.3");
            _third = _fabric.AddContainer(_cell, "c", "10.255.12.4");
            _runner = CellFabric.InNetns(_cell.Ns, LibNftRunner.OpenHere);
            _nft = new NftEnforcer(_runner);
        }
        catch
        {
            _fabric.Dispose(); // a constructor that throws is never disposed
            throw;
        }
    }

    public void Dispose()
    {
        _runner.Dispose();
        _fabric.Dispose();
    }

    private DesiredTable Table(params PolicyRule[] policies) => PolicyCompiler.Compute(new PolicyInputs(
        new CellSkeleton(_cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16")), policies,
        [
            new LocalContainer("a", "eth0", _backend.Ip, _backend.HostVeth, "backend", []),
            new LocalContainer("b", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []),
            new LocalContainer("c", "eth0", _third.Ip, _third.HostVeth, "third", []),
        ],
        [_cell.UnderlayIp]));

    [RootFact]
    public async Task A_container_the_table_does_not_know_yet_is_refused_not_open()
    {
        // weft-cni has attached it, the agent has not read its record yet: no app, no tag, no policy. (TCP to it
        // fails either way, since its answers are dropped as unknown sources; a datagram needs no answer.)
        var fresh = _fabric.AddContainer(_cell, "d", "10.255.12.5");
        using var freshRx = Probe.UdpListen(fresh.Ns, 5353);
        _nft.Apply(Table(Tcp, Udp));
        using var tx = Probe.UdpSender(_frontend.Ns);
        tx.Connect(new IPEndPoint(fresh.Ip, 5353));
        tx.Send("before-the-agent-knows-it"u8);
        Assert.Equal(System.Net.Sockets.SocketError.HostUnreachable, await Probe.Rejected(tx));
        Assert.Equal(0, freshRx.Available);

        // Once the table knows it as a backend instance, the frontend's UDP policy lets the same datagram in.
        _nft.Apply(PolicyCompiler.Compute(new PolicyInputs(
            new CellSkeleton(_cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16")), [Tcp, Udp],
            [
                new LocalContainer("b", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []),
                new LocalContainer("d", "eth0", fresh.Ip, fresh.HostVeth, "backend", []),
            ],
            [_cell.UnderlayIp])));
        tx.Send("known"u8);
        Assert.Equal("known", await Probe.ReceiveUdp(freshRx));
    }

    [RootFact]
    public async Task Tcp_is_allowed_only_by_a_matching_policy_and_port_range()
    {
        using var l1 = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 8091);
        Assert.Equal(NftApplyKind.Full, _nft.Apply(Table()).Kind);
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));

        Assert.Equal(NftApplyKind.Delta, _nft.Apply(Table(Tcp)).Kind);
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8091)); // outside the range
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));    // a third app
        Assert.False(await Probe.CanConnect(_backend.Ns, _frontend.Ip, 8080)); // not the reverse direction

        Assert.Equal(NftApplyKind.Delta, _nft.Apply(Table()).Kind);
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public async Task Udp_is_allowed_only_by_a_matching_policy()
    {
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        using var tx = Probe.UdpSender(_frontend.Ns);
        using var third = Probe.UdpSender(_third.Ns);
        _nft.Apply(Table(Tcp)); // TCP only
        // The frontend's socket is connected, so it hears the reject: once it has, that datagram was judged by
        // this table. (Sent and left alone, it could still be on its way, or waiting for ARP, when the next
        // table goes in, and that one rightly lets it through.)
        tx.Connect(new IPEndPoint(_backend.Ip, 5353));
        tx.Send("denied-no-udp-policy"u8);
        Assert.Equal(System.Net.Sockets.SocketError.HostUnreachable, await Probe.Rejected(tx));
        Probe.SendUdp(third, _backend.Ip, 5353, "denied-third"); // denied by both tables
        _nft.Apply(Table(Tcp, Udp));
        Probe.SendUdp(third, _backend.Ip, 5353, "denied-third-again");
        tx.Send("allowed"u8);
        Assert.Equal("allowed", await Probe.ReceiveUdp(rx));
    }

    [RootFact]
    public async Task A_spoofed_source_ip_is_dropped()
    {
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        _nft.Apply(Table(Tcp, Udp));
        // The third app's container claims the frontend's address (which the policy lets in) and a foreign one.
        CellFabric.Sh($"ip -n {_third.Ns} addr add {_frontend.Ip}/32 dev eth0");
        CellFabric.Sh($"ip -n {_third.Ns} addr add 10.255.77.7/32 dev eth0");
        using var spoofFrontend = Probe.UdpSender(_third.Ns, _frontend.Ip);
        using var spoofForeign = Probe.UdpSender(_third.Ns, IPAddress.Parse("10.255.77.7"));
        using var honest = Probe.UdpSender(_frontend.Ns, _frontend.Ip);
        Probe.SendUdp(spoofFrontend, _backend.Ip, 5353, "spoofed-frontend");
        Probe.SendUdp(spoofForeign, _backend.Ip, 5353, "spoofed-foreign");
        Probe.SendUdp(honest, _backend.Ip, 5353, "honest");
        Assert.Equal("honest", await Probe.ReceiveUdp(rx));
    }

    private static readonly PolicyRule Unrelated = new("third", 3, "frontend", 1, "tcp", 7000, 7000);

    [RootFact]
    public async Task Restarts_keep_established_connections_refuse_no_allowed_and_pass_no_denied_traffic()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        _nft.Apply(Table(Tcp));
        using var conn = await Probe.Connect(_frontend.Ns, _backend.Ip, 8080);
        Assert.NotNull(conn);
        Assert.True(await Probe.Echo(conn!, "before"));

        // Denied UDP stream from the third app and allowed UDP from the frontend, while the table is
        // replaced 50 times: every allowed datagram arrives, no denied one does.
        var table = Table(Tcp, Udp);
        await UnderUdpTraffic(table, () =>
        {
            // 50 agent restarts, each finding the table one policy away from what it wants.
            var other = Table(Tcp, Udp, Unrelated);
            for (var i = 0; i < 50; i++)
            {
                var restarted = new NftEnforcer(_runner);
                var r = restarted.Apply(i % 2 == 0 ? other : table);
                Assert.True(r.Kind == NftApplyKind.Delta, $"{r.Kind} {r.DeltaError}");
            }
        });
        Assert.True(await Probe.Echo(conn!, "after"));
    }

    [RootFact]
    public async Task A_restarted_agent_adopts_an_identical_table_without_touching_it()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        _nft.Apply(Table(Tcp, Udp));
        var restarted = new NftEnforcer(_runner);
        Assert.Equal(NftApplyKind.None, restarted.Apply(Table(Tcp, Udp)).Kind);
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public async Task A_table_built_with_another_skeleton_is_replaced_and_denied_traffic_never_passes()
    {
        // An older table (different cell IP, so another skeleton) that allowed the third app.
        var old = PolicyCompiler.Compute(new PolicyInputs(new CellSkeleton(IPAddress.Parse("198.18.0.99"), IPNetwork.Parse("10.255.0.0/16")),
            [Tcp, Udp, new PolicyRule("third", 3, "backend", 2, "udp", 5353, 5353)],
            [new LocalContainer("a", "eth0", _backend.Ip, _backend.HostVeth, "backend", []), new LocalContainer("c", "eth0", _third.Ip, _third.HostVeth, "third", [])],
            [_cell.UnderlayIp]));
        new NftEnforcer(_runner).Apply(old);
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        using var bad = Probe.UdpSender(_third.Ns);
        using var tx = Probe.UdpSender(_frontend.Ns);
        Probe.SendUdp(bad, _backend.Ip, 5353, "allowed-by-old-table");
        Assert.Equal("allowed-by-old-table", await Probe.ReceiveUdp(rx));

        var r = new NftEnforcer(_runner).Apply(Table(Tcp, Udp));
        Assert.Equal(NftApplyKind.Full, r.Kind);
        Probe.SendUdp(bad, _backend.Ip, 5353, "denied-now");
        Probe.SendUdp(tx, _backend.Ip, 5353, "ok");
        Assert.Equal("ok", await Probe.ReceiveUdp(rx));
    }

    [RootFact]
    public async Task A_local_container_reaches_another_app_through_its_host_port_only_with_a_policy()
    {
        // The backend publishes 8080 on the cell's host port 61080. A container on the same cell
        // that dials cellIP:61080 is container-to-container traffic: it needs a policy like any other.
        using var l = Probe.Listen(_backend.Ns, 8080);
        DesiredTable Mapped(params PolicyRule[] policies) => PolicyCompiler.Compute(new PolicyInputs(
            new CellSkeleton(_cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16")), policies,
            [
                new LocalContainer("a", "eth0", _backend.Ip, _backend.HostVeth, "backend", [new PortMapping(61080, 8080, "tcp")]),
                new LocalContainer("b", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []),
                new LocalContainer("c", "eth0", _third.Ip, _third.HostVeth, "third", []),
            ],
            [_cell.UnderlayIp]));

        _nft.Apply(Mapped());
        Assert.False(await Probe.CanConnect(_frontend.Ns, _cell.UnderlayIp, 61080));
        Assert.False(await Probe.CanConnect(_third.Ns, _cell.UnderlayIp, 61080));

        _nft.Apply(Mapped(Tcp));
        Assert.True(await Probe.CanConnect(_frontend.Ns, _cell.UnderlayIp, 61080)); // DNATed to 8080, which the policy allows
        Assert.False(await Probe.CanConnect(_third.Ns, _cell.UnderlayIp, 61080));
    }

    private DesiredTable WithMapping(IngressRouter? router = null, LocalContainer? extra = null, params PolicyRule[] policies) => PolicyCompiler.Compute(new PolicyInputs(
        new CellSkeleton(_cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16")), policies,
        [
            new LocalContainer("a", "eth0", _backend.Ip, _backend.HostVeth, "backend", [new PortMapping(61080, 8080, "tcp")]) { Ports = [8080] },
            new LocalContainer("b", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []),
            new LocalContainer("c", "eth0", _third.Ip, _third.HostVeth, "third", []),
            .. extra is null ? Array.Empty<LocalContainer>() : [extra],
        ],
        [_cell.UnderlayIp]) { Router = router });

    /// <summary>A namespace on the underlay bridge standing in for the outside (a router VM, a client, the internet).</summary>
    private string Outside(string name, string ip)
    {
        var ns = _fabric.AddCell(name, ip).Ns;
        // It may even route the overlay to the cell: only the port mapping lets it in.
        CellFabric.Sh($"ip -n {ns} route add 10.255.0.0/16 via {_cell.UnderlayIp}");
        return ns;
    }

    [RootFact]
    public async Task A_port_mapping_takes_tcp_from_outside_the_cell_to_the_container()
    {
        var outside = Outside("out", "198.18.0.50");
        var peers = new System.Collections.Concurrent.ConcurrentQueue<IPEndPoint>();
        using var l = Probe.Listen(_backend.Ns, 8080, peers);
        _nft.Apply(Table(Tcp)); // no mapping yet
        Assert.False(await Probe.CanConnect(outside, _cell.UnderlayIp, 61080));

        _nft.Apply(WithMapping(policies: Tcp));
        using var conn = await Probe.Connect(outside, _cell.UnderlayIp, 61080);
        Assert.NotNull(conn);
        Assert.True(await Probe.Echo(conn!, "via-host-port"));
        // The container sees the outside client itself (DNAT only, no SNAT).
        Assert.Equal([IPAddress.Parse("198.18.0.50")], peers.Select(p => p.Address).Distinct());
        // Straight to the container IP, without the mapping: refused like any unmarked traffic.
        Assert.False(await Probe.CanConnect(outside, _backend.Ip, 8080));
        // A host port that maps nothing on the cell leads nowhere.
        Assert.False(await Probe.CanConnect(outside, _cell.UnderlayIp, 61081));
    }

    [RootFact]
    public async Task Traffic_leaving_the_overlay_is_masqueraded_to_the_cell_ip()
    {
        var outside = Outside("net", "198.18.0.60");
        _nft.Apply(Table(Tcp));
        using var listener = CellFabric.Socket(outside, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Any, 7000));
        listener.Listen(4);
        var accepted = listener.AcceptAsync();
        using var conn = await Probe.Connect(_frontend.Ns, IPAddress.Parse("198.18.0.60"), 7000);
        Assert.NotNull(conn);
        using var peer = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(_cell.UnderlayIp, ((IPEndPoint)peer.RemoteEndPoint!).Address);

        using var rx = Probe.UdpListen(outside, 7001);
        using var tx = Probe.UdpSender(_frontend.Ns);
        Probe.SendUdp(tx, IPAddress.Parse("198.18.0.60"), 7001, "out");
        var (text, from) = await Probe.ReceiveUdpFrom(rx);
        Assert.Equal("out", text);
        Assert.Equal(_cell.UnderlayIp, from);

        // UDP never leaves from the cell's VXLAN port, whatever the container's own port: a reply to
        // it would reach the cell's VXLAN socket, not the container.
        using var rx2 = CellFabric.Socket(outside, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        rx2.Bind(new IPEndPoint(IPAddress.Any, 7002));
        using var from4789 = CellFabric.Socket(_frontend.Ns, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        from4789.Bind(new IPEndPoint(IPAddress.Any, 4789));
        from4789.SendTo("x"u8.ToArray(), new IPEndPoint(IPAddress.Parse("198.18.0.60"), 7002));
        var buf = new byte[16];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var got = await rx2.ReceiveFromAsync(buf, System.Net.Sockets.SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        var source = (IPEndPoint)got.RemoteEndPoint;
        Assert.Equal(_cell.UnderlayIp, source.Address);
        Assert.NotEqual(4789, source.Port);
    }

    [RootFact]
    public async Task The_router_reaches_metadata_ports_only()
    {
        // The backend's metadata port is 8080; it also listens on 9090. The router (app INGRESS_ROUTER,
        // a container on this cell) needs no policy for 8080 and gets nothing else.
        var r = _fabric.AddContainer(_cell, "r", "10.255.12.9");
        var routerContainer = new LocalContainer("r", "eth0", r.Ip, r.HostVeth, "INGRESS_ROUTER", []);
        var router = new IngressRouter("INGRESS_ROUTER", 0x00ff);
        using var l1 = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 9090);

        _nft.Apply(WithMapping(null, routerContainer)); // overlay ingress off
        Assert.False(await Probe.CanConnect(r.Ns, _backend.Ip, 8080));

        _nft.Apply(WithMapping(router, routerContainer));
        Assert.True(await Probe.CanConnect(r.Ns, _backend.Ip, 8080));
        Assert.False(await Probe.CanConnect(r.Ns, _backend.Ip, 9090));      // not a metadata port
        Assert.False(await Probe.CanConnect(r.Ns, _frontend.Ip, 8080));     // the frontend has no metadata ports
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080)); // other apps still need a policy
        using var rx = Probe.UdpListen(_backend.Ns, 8080);
        using var tx = Probe.UdpSender(r.Ns);
        Probe.SendUdp(tx, _backend.Ip, 8080, "udp-denied");                  // TCP only, as CF
        using var ok = Probe.UdpSender(_frontend.Ns);
        _nft.Apply(WithMapping(router, routerContainer, Tcp, new PolicyRule("frontend", 1, "backend", 2, "udp", 8080, 8080)));
        Probe.SendUdp(tx, _backend.Ip, 8080, "udp-denied-again");
        Probe.SendUdp(ok, _backend.Ip, 8080, "udp-by-policy");
        Assert.Equal("udp-by-policy", await Probe.ReceiveUdp(rx));
    }

    [RootFact]
    public async Task A_stale_record_at_a_containers_address_leaves_it_untagged_and_closed_and_the_table_applies()
    {
        // weft-cni's record of a container that is gone (no CNI DEL) names the address IPAM has since
        // given the frontend. Each app has a tag, and the containers map can hold one mark per key: the
        // address gets none (neither app's identity for a packet whose sender is in doubt), and the
        // kernel takes the table (two marks for one key would fail the whole transaction).
        var stale = new LocalContainer("gone", "eth0", _frontend.Ip, _frontend.HostVeth, "backend", []);
        var inputs = new PolicyInputs(new CellSkeleton(_cell.UnderlayIp, IPNetwork.Parse("10.255.0.0/16")), [Tcp],
        [
            new LocalContainer("a", "eth0", _backend.Ip, _backend.HostVeth, "backend", []),
            new LocalContainer("b", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []),
            stale,
        ], [_cell.UnderlayIp]);
        var stats = new CompileStats();
        var r = _nft.Apply(PolicyCompiler.Compute(inputs, stats));
        Assert.Null(r.DeltaError);
        var marks = _runner.Context.ListElements(NftFamily.Inet, "weft", "containers")
            .Where(e => e.Key[1].Equals(NftValue.Address(_frontend.Ip))).Select(e => e.Value![0]).ToArray();
        Assert.Equal([NftValue.Mark(0)], marks);
        // Nor does anything reach the address by the stale app's policies (the backend's: 8080-8090).
        Assert.DoesNotContain(_runner.Context.ListElements(NftFamily.Inet, "weft", "allow_ranges"), e => e.Key[1].Equals(NftValue.Address(_frontend.Ip)));
        Assert.Single(_runner.Context.ListElements(NftFamily.Inet, "weft", "allow_ranges")); // the real backend's
        using var l = Probe.Listen(_backend.Ns, 8080);
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080)); // no tag: the frontend's policy does not apply
        Assert.Equal(1, stats.ConflictingAddresses);

        // The stale record goes: the address is the frontend's again.
        Assert.Null(_nft.Apply(PolicyCompiler.Compute(inputs with { Containers = inputs.Containers.Take(2).ToArray() })).DeltaError);
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public void The_kernel_refusing_a_delta_leads_to_reading_the_table_back_and_repairing_it()
    {
        _nft.Apply(Table(Tcp));
        // Someone removes an element behind the agent's back: the next delta that deletes it fails.
        _runner.Apply("delete element inet weft allow_ranges { 0x00000001 . 10.255.12.2 . tcp . 8080-8090 }\n");
        var r = _nft.Apply(Table());
        Assert.NotNull(r.DeltaError);
        Assert.Equal(NftApplyKind.Delta, r.Kind);
        // No policy: the three containers are still known, with no tag.
        Assert.Equal(
            new[] { _backend, _frontend, _third }.Select(c => $"{c.HostVeth} {c.Ip} {NftValue.Mark(0)}").Order(),
            _runner.Context.ListElements(NftFamily.Inet, "weft", "containers").Select(e => $"{e.Key[0]} {e.Key[1]} {e.Value![0]}".Replace("\"", "")).Order());
        Assert.Equal(NftApplyKind.Delta, _nft.Apply(Table(Tcp)).Kind);
        Assert.Single(_runner.Context.ListElements(NftFamily.Inet, "weft", "allow_ranges"));
    }

    private IReadOnlyList<NftRuleState> Rules(string chain) =>
        NftJson.ReadRules(_runner.Context.RunJson($"list chain inet weft {chain}"));

    [RootFact]
    public async Task A_resync_restores_rules_deleted_by_hand()
    {
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        using var tx = Probe.UdpSender(_frontend.Ns);
        using var third = Probe.UdpSender(_third.Ns);
        var table = Table(Tcp, Udp);
        _nft.Apply(table);
        var before = Rules("to_container").Count;

        // By hand, in the cell's namespace: the two reject rules go, so the third app gets through.
        foreach (var rule in Rules("to_container").TakeLast(2))
        {
            CellFabric.Sh($"ip netns exec {_cell.Ns} nft delete rule inet weft to_container handle {rule.Handle}");
        }
        Probe.SendUdp(third, _backend.Ip, 5353, "passes-without-the-rules");
        Assert.Equal("passes-without-the-rules", await Probe.ReceiveUdp(rx));
        Assert.Equal(NftApplyKind.None, _nft.Apply(table).Kind); // between resyncs the agent trusts what it applied

        _nft.Invalidate(); // the periodic resync
        var r = _nft.Apply(table);

        Assert.Equal(NftApplyKind.Full, r.Kind);
        Assert.Equal(before, Rules("to_container").Count);
        Probe.SendUdp(third, _backend.Ip, 5353, "denied-again");
        Probe.SendUdp(tx, _backend.Ip, 5353, "allowed");
        Assert.Equal("allowed", await Probe.ReceiveUdp(rx));
        // A restarted agent finds the repaired table as its own.
        Assert.Equal(NftApplyKind.None, new NftEnforcer(_runner).Apply(table).Kind);
    }

    [RootFact]
    public async Task A_resync_restores_a_rule_changed_by_hand()
    {
        using var l = Probe.Listen(_backend.Ns, 9999);
        var table = Table(Tcp);
        _nft.Apply(table);
        // The reject rule for TCP is replaced by an accept: any TCP to a local container passes.
        var reset = Rules("to_container")[^2];
        CellFabric.Sh($"ip netns exec {_cell.Ns} nft replace rule inet weft to_container handle {reset.Handle} meta l4proto tcp accept");
        Assert.True(await Probe.CanConnect(_third.Ns, _backend.Ip, 9999));

        _nft.Invalidate();
        Assert.Equal(NftApplyKind.Full, _nft.Apply(table).Kind);

        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 9999));
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 9999));
    }

    [RootFact]
    public async Task Rewriting_the_rules_under_traffic_refuses_no_allowed_and_passes_no_denied_packet()
    {
        var table = Table(Tcp, Udp);
        await UnderUdpTraffic(table, () =>
        {
            // 30 rewrites of every chain and rule (the marker chain removed, as a hand edit would leave
            // the digest changed): flush, delete and re-create in one transaction each time.
            for (var i = 0; i < 30; i++)
            {
                var marker = _runner.TryReadStructure()!.Chains.Single(c => !NftScript.IsNotMarker(c));
                _runner.Apply($"delete chain inet weft {marker}\n");
                var restarted = new NftEnforcer(_runner);
                Assert.Equal(NftApplyKind.Full, restarted.Apply(table).Kind);
            }
        });
    }

    /// <summary>
    /// Applies <paramref name="table"/> (it allows the frontend's UDP to the backend, not the third
    /// app's), runs <paramref name="churn"/> while both send datagrams, and asserts that every allowed
    /// datagram arrived and no denied one did. The backend reads while the traffic runs and the frontend
    /// keeps at most <see cref="InFlight"/> datagrams unread, so none is lost to a full receive buffer
    /// (a loss here must mean the table dropped it).
    /// </summary>
    private async Task UnderUdpTraffic(DesiredTable table, Action churn)
    {
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        using var tx = Probe.UdpSender(_frontend.Ns);
        using var bad = Probe.UdpSender(_third.Ns);
        _nft.Apply(table);
        var ok = 0;
        var endSeen = 0;
        var unexpected = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stopReceiving = new CancellationTokenSource();
        var receiver = Task.Run(async () =>
        {
            var buf = new byte[64];
            while (true)
            {
                int n;
                try { n = await rx.ReceiveAsync(buf, System.Net.Sockets.SocketFlags.None, stopReceiving.Token); }
                catch (OperationCanceledException) { return; }
                var m = System.Text.Encoding.ASCII.GetString(buf, 0, n);
                if (m == "ok") Interlocked.Increment(ref ok);
                else if (m == "end") Volatile.Write(ref endSeen, 1);
                else unexpected.Enqueue(m);
            }
        });
        var stop = 0;
        var sent = 0;
        var sender = Task.Run(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                if (sent - Volatile.Read(ref ok) >= InFlight)
                {
                    Thread.Yield(); // let the backend catch up (if an allowed datagram was dropped, it never does)
                    continue;
                }
                Probe.SendUdp(bad, _backend.Ip, 5353, "denied");
                Probe.SendUdp(tx, _backend.Ip, 5353, "ok");
                sent++;
                Thread.SpinWait(2000);
            }
        });
        try
        {
            churn();
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            await sender;
        }
        Probe.SendUdp(tx, _backend.Ip, 5353, "end");

        // Everything sent is on its way: wait (a liveness bound) until it has all arrived.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!(Volatile.Read(ref endSeen) == 1 && Volatile.Read(ref ok) >= sent) && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(10);
        await stopReceiving.CancelAsync();
        await receiver;
        Assert.Empty(unexpected);
        Assert.Equal(1, endSeen);
        Assert.Equal(sent, ok);
    }

    /// <summary>Allowed datagrams the frontend may have sent that the backend has not read yet (a few hundred KB at most).</summary>
    private const int InFlight = 100;

    [RootFact]
    public void A_first_build_reads_back_as_the_desired_table()
    {
        var table = Table(Tcp, Udp);
        Assert.True(table[TableSet.Allow].Length + table[TableSet.AllowRanges].Length >= 2);
        Assert.Equal(NftApplyKind.Full, _nft.Apply(table).Kind);
        foreach (var set in TableElements.All)
        {
            // Read back through libnftables' JSON (not our own netlink decoder).
            var got = _runner.Context.ListElements(NftFamily.Inet, "weft", set.Name())
                .Select(e => TableElements.TryFromNft(set, e, out var x) ? x : throw new Xunit.Sdk.XunitException($"{set.Name()}: {e} is not ours"))
                .Order().ToArray();
            Assert.Equal(table[set].ToArray(), got);
        }
    }
}
