using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Weft.Agent.Dataplane;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;
using Weft.Linux;
using Weft.Linux.Nft;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>
/// Two cells on an underlay bridge, each with the agent's dataplane (VTEP, overlay reconciler, nft
/// table) driven directly: cross-cell traffic with identity carried in VXLAN-GBP.
/// </summary>
public sealed class CrossCellTests : IDisposable
{
    private static readonly IPNetwork OverlayNet = IPNetwork.Parse("10.255.0.0/16");
    private static readonly PolicyRule Tcp = new("frontend", 1, "backend", 2, "tcp", 8080, 8080);
    private static readonly PolicyRule Udp = new("frontend", 1, "backend", 2, "udp", 5353, 5353);

    private readonly CellFabric _fabric = new();
    private readonly DataplaneCell _a, _b;
    private readonly FabricContainer _backend, _frontend, _third;

    public CrossCellTests()
    {
        try
        {
            _a = new DataplaneCell(_fabric.AddCell("ca", "198.18.0.11"), new Lease(IPAddress.Parse("198.18.0.11"), IPNetwork.Parse("10.255.12.0/24"), ""));
            _b = new DataplaneCell(_fabric.AddCell("cb", "198.18.0.12"), new Lease(IPAddress.Parse("198.18.0.12"), IPNetwork.Parse("10.255.13.0/24"), ""));
            _backend = _fabric.AddContainer(_a.Cell, "a1", "10.255.12.2");
            _frontend = _fabric.AddContainer(_b.Cell, "b1", "10.255.13.2");
            _third = _fabric.AddContainer(_b.Cell, "b2", "10.255.13.3");
            _a.Containers.Add(new LocalContainer("a1", "eth0", _backend.Ip, _backend.HostVeth, "backend", []));
            _b.Containers.Add(new LocalContainer("b1", "eth0", _frontend.Ip, _frontend.HostVeth, "frontend", []));
            _b.Containers.Add(new LocalContainer("b2", "eth0", _third.Ip, _third.HostVeth, "third", []));
        }
        catch
        {
            _fabric.Dispose(); // a constructor that throws is never disposed
            throw;
        }
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        _fabric.Dispose();
    }

    private void Converge(params PolicyRule[] policies)
    {
        Lease[] leases = [_a.Lease, _b.Lease];
        _a.Converge(leases, policies);
        _b.Converge(leases, policies);
    }

    [RootFact]
    public async Task Cross_cell_tcp_and_udp_pass_only_with_a_matching_policy()
    {
        using var l = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 8081);
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        Converge();
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));

        Converge(Tcp, Udp);
        Assert.True(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8081));
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));
        using (var third = Probe.UdpSender(_third.Ns))
        using (var tx = Probe.UdpSender(_frontend.Ns))
        {
            Probe.SendUdp(third, _backend.Ip, 5353, "third");
            Probe.SendUdp(tx, _backend.Ip, 5353, "frontend");
            Assert.Equal("frontend", await Probe.ReceiveUdp(rx));
        }

        Converge();
        Assert.False(await Probe.CanConnect(_frontend.Ns, _backend.Ip, 8080));
    }

    [RootFact]
    public void The_overlay_is_read_back_and_a_second_pass_touches_nothing()
    {
        Converge();
        var routes = _a.Netlink.RouteList(AddressFamily.InterNetwork).Where(r => r.Device == _a.Netlink.LinkByName("weft-vtep").Index && r.Gateway is not null).ToList();
        Assert.Equal("10.255.13.0/24 via 10.255.13.0", string.Join(",", routes.Select(r => $"{r.Dst} via {r.Gateway}")));
        var vtep = _a.Netlink.LinkByName("weft-vtep");
        Assert.True(vtep.Vxlan!.Gbp);
        Assert.False(vtep.Vxlan.Learning);
        Assert.Equal(1450, vtep.Mtu);
        var again = OverlayReconciler.Reconcile(_a.OverlayKernel, OverlayPlanner.Compute(_a.Lease, [_a.Lease, _b.Lease], OverlayNet));
        Assert.Equal((0, 0, 3), (again.Added, again.Removed, again.Unchanged));
        // A lease that goes away takes its entries with it.
        var gone = OverlayReconciler.Reconcile(_a.OverlayKernel, OverlayPlanner.Compute(_a.Lease, [_a.Lease], OverlayNet));
        Assert.Equal(3, gone.Removed);
        Assert.Empty(_a.OverlayKernel.ListRoutes());
    }

    [RootFact]
    public async Task A_forged_vxlan_packet_from_a_non_cell_underlay_address_delivers_nothing()
    {
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        Converge(Tcp, Udp);
        var rogue = _fabric.AddCell("rogue", "198.18.0.66");
        var forged = ForgedVxlan(tag: 1, src: _frontend.Ip, dst: _backend.Ip, dstMac: _a.Lease.VtepMac, port: 5353, "forged");
        using (var s = CellFabric.Socket(rogue.Ns, SocketType.Dgram, ProtocolType.Udp))
            s.SendTo(forged, new IPEndPoint(_a.Cell.UnderlayIp, 4789));
        using (var tx = Probe.UdpSender(_frontend.Ns))
            Probe.SendUdp(tx, _backend.Ip, 5353, "genuine");
        Assert.Equal("genuine", await Probe.ReceiveUdp(rx));

        // Nor to a multicast address every host listens on: the VXLAN socket takes any destination.
        using (var s = CellFabric.Socket(rogue.Ns, SocketType.Dgram, ProtocolType.Udp))
        {
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.Parse("198.18.0.66").GetAddressBytes());
            s.SendTo(ForgedVxlan(1, _frontend.Ip, _backend.Ip, _a.Lease.VtepMac, 5353, "forged-multicast"), new IPEndPoint(IPAddress.Parse("224.0.0.1"), 4789));
        }
        using (var tx = Probe.UdpSender(_frontend.Ns))
            Probe.SendUdp(tx, _backend.Ip, 5353, "genuine-2");
        Assert.Equal("genuine-2", await Probe.ReceiveUdp(rx));

        // The same bytes from a cell's underlay address are delivered: the guard, not the packet, stopped it.
        using (var s = CellFabric.Socket(_b.Cell.Ns, SocketType.Dgram, ProtocolType.Udp))
            s.SendTo(ForgedVxlan(1, _frontend.Ip, _backend.Ip, _a.Lease.VtepMac, 5353, "from-a-cell"), new IPEndPoint(_a.Cell.UnderlayIp, 4789));
        Assert.Equal("from-a-cell", await Probe.ReceiveUdp(rx));
    }

    [RootFact]
    public async Task A_container_cannot_send_vxlan_with_a_tag_of_its_choosing_to_any_cell()
    {
        // The third app has no policy; it builds VXLAN-GBP datagrams carrying the frontend's tag (1,
        // allowed to the backend's UDP 5353) and sends them as plain UDP to port 4789: to the other
        // cell (masqueraded, it would come from a cell's underlay address and pass the guard) and to
        // its own cell (which would decapsulate it and send it on with the tag). Neither arrives.
        using var rx = Probe.UdpListen(_backend.Ns, 5353);
        Converge(Tcp, Udp);
        using (var s = CellFabric.Socket(_third.Ns, SocketType.Dgram, ProtocolType.Udp))
        {
            s.SendTo(ForgedVxlan(1, _third.Ip, _backend.Ip, _a.Lease.VtepMac, 5353, "to-the-peer"), new IPEndPoint(_a.Cell.UnderlayIp, 4789));
            s.SendTo(ForgedVxlan(1, _third.Ip, _backend.Ip, _b.Lease.VtepMac, 5353, "to-its-own-cell"), new IPEndPoint(_b.Cell.UnderlayIp, 4789));
        }
        using (var tx = Probe.UdpSender(_frontend.Ns))
            Probe.SendUdp(tx, _backend.Ip, 5353, "genuine");
        // Everything the backend gets up to the genuine datagram (sent last; a forged one that got
        // through would have arrived before it).
        var got = new List<string?>();
        while (got.LastOrDefault() is not ("genuine" or null) || got.Count == 0) got.Add(await Probe.ReceiveUdp(rx));
        Assert.Equal(["genuine"], got);
    }

    /// <summary>A VXLAN-GBP packet (G and I flags, group policy id = tag, VNI 1) carrying an IPv4/UDP datagram.</summary>
    internal static byte[] ForgedVxlan(ushort tag, IPAddress src, IPAddress dst, string dstMac, ushort port, string text)
    {
        var payload = Encoding.ASCII.GetBytes(text);
        var p = new byte[8 + 14 + 20 + 8 + payload.Length];
        var s = p.AsSpan();
        s[0] = 0x88;
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], tag);
        s[6] = 1; // VNI 1 (bytes 4..6)
        var eth = s[8..];
        Convert.FromHexString(dstMac.Replace(":", "")).CopyTo(eth);
        Convert.FromHexString("eeee0aff6300").CopyTo(eth[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(eth[12..], 0x0800);
        var ip = eth[14..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = 64;
        ip[9] = 17;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        uint sum = 0;
        for (var i = 0; i < 20; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(ip[i..]);
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], port);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        return p;
    }
}

/// <summary>One cell's agent dataplane, driven directly by a test.</summary>
internal sealed class DataplaneCell : IDisposable
{
    public DataplaneCell(FabricCell cell, Lease lease)
    {
        Cell = cell;
        Lease = lease;
        Ns = NetNs.OpenByName(cell.Ns);
        Netlink = Netlink.Open(Ns);
        Vtep = new VtepDriver(Netlink, new VtepConfig());
        OverlayKernel = new NetlinkOverlayKernel(Netlink, "weft-vtep");
        Runner = Ns.Run(LibNftRunner.OpenHere);
        Nft = new NftEnforcer(Runner);
    }

    public FabricCell Cell { get; }
    public Lease Lease { get; }
    public NetNs Ns { get; }
    public Netlink Netlink { get; }
    public VtepDriver Vtep { get; }
    public NetlinkOverlayKernel OverlayKernel { get; }
    public LibNftRunner Runner { get; }
    public NftEnforcer Nft { get; }
    public List<LocalContainer> Containers { get; } = [];

    public void Converge(Lease[] leases, PolicyRule[] policies)
    {
        var overlay = IPNetwork.Parse("10.255.0.0/16");
        Vtep.Ensure(Lease, overlay, Cell.UnderlayIp, null);
        var r = OverlayReconciler.Reconcile(OverlayKernel, OverlayPlanner.Compute(Lease, leases, overlay));
        if (!r.Ok) throw new AggregateException(r.Errors);
        Nft.Apply(PolicyCompiler.Compute(new PolicyInputs(new CellSkeleton(Cell.UnderlayIp, overlay), policies, Containers,
            leases.Select(l => l.UnderlayIp).ToList())));
    }

    public void Dispose()
    {
        Runner.Dispose();
        Netlink.Dispose();
        Ns.Dispose();
    }
}
