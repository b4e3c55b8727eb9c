using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Weft.Linux;

namespace Weft.TestSupport;

/// <summary>
/// Two "hosts" (throwaway namespaces) joined by a veth underlay, each with a VXLAN-GBP device
/// <c>weft-vtep</c> (VNI 1, UDP 4789, nolearning) wired the way a Weft agent wires cells, built
/// entirely through Weft.Linux:
/// <code>
///   host A (NsA)                                      host B (NsB)
///   lo         10.255.1.1/32  (OverlayHostA)          lo         10.255.2.1/32  (OverlayHostB)
///   weft-vtep  10.255.1.0/16  mac ee:ee:0a:ff:01:00   weft-vtep  10.255.2.0/16  mac ee:ee:0a:ff:02:00
///   weft-ul    198.18.0.1/24 ═══════ veth ═══════════ weft-ul    198.18.0.2/24
///   route 10.255.2.0/24 via 10.255.2.0 dev weft-vtep onlink     (and the mirror on B)
///   neigh 10.255.2.0 lladdr ee:ee:0a:ff:02:00 nud permanent
///   fdb   ee:ee:0a:ff:02:00 dst 198.18.0.2 self permanent
/// </code>
/// A packet from OverlayHostA to OverlayHostB crosses the overlay (encapsulated on weft-ul); the
/// packet mark's low 16 bits travel in the GBP header. Tests may add nftables rules in
/// <see cref="NsA"/>/<see cref="NsB"/> (e.g. <c>ip netns exec NAME nft …</c> or libnftables inside
/// <see cref="NetNs.Run(Action)"/>). Dispose deletes both namespaces and everything in them.
/// </summary>
public sealed class TwoHostVxlan : IDisposable
{
    public const string VtepName = "weft-vtep";
    public const string UnderlayName = "weft-ul";
    public const uint Vni = 1;
    public const ushort Port = 4789;

    public static readonly IPAddress UnderlayA = IPAddress.Parse("198.18.0.1");
    public static readonly IPAddress UnderlayB = IPAddress.Parse("198.18.0.2");
    /// <summary>The vtep addresses (gateways of the remote /24s): 10.255.1.0 and 10.255.2.0.</summary>
    public static readonly IPAddress VtepIpA = IPAddress.Parse("10.255.1.0");
    public static readonly IPAddress VtepIpB = IPAddress.Parse("10.255.2.0");
    /// <summary>Addresses on each host's loopback to send overlay traffic from/to: 10.255.1.1 and 10.255.2.1.</summary>
    public static readonly IPAddress OverlayHostA = IPAddress.Parse("10.255.1.1");
    public static readonly IPAddress OverlayHostB = IPAddress.Parse("10.255.2.1");
    public static readonly PhysicalAddress VtepMacA = PhysicalAddress.Parse("ee-ee-0a-ff-01-00");
    public static readonly PhysicalAddress VtepMacB = PhysicalAddress.Parse("ee-ee-0a-ff-02-00");

    private TwoHostVxlan(TestNetns a, TestNetns b)
    {
        HostA = a;
        HostB = b;
    }

    public TestNetns HostA { get; }
    public TestNetns HostB { get; }
    public NetNs NsA => HostA.Ns;
    public NetNs NsB => HostB.Ns;

    /// <summary>Builds the topology (about 30 netlink requests).</summary>
    public static TwoHostVxlan Create()
    {
        var a = TestNetns.Create("hosta");
        TestNetns? b = null;
        try
        {
            b = TestNetns.Create("hostb");
            a.Netlink.LinkAddVeth(UnderlayName, UnderlayName, b.Ns);
            var t = new TwoHostVxlan(a, b);
            SetUpHost(a.Netlink, UnderlayA, VtepIpA, OverlayHostA, VtepMacA, UnderlayB, VtepIpB, VtepMacB);
            SetUpHost(b.Netlink, UnderlayB, VtepIpB, OverlayHostB, VtepMacB, UnderlayA, VtepIpA, VtepMacA);
            return t;
        }
        catch
        {
            b?.Dispose();
            a.Dispose();
            throw;
        }
    }

    private static void SetUpHost(Netlink nl, IPAddress underlay, IPAddress vtepIp, IPAddress hostIp, PhysicalAddress mac,
        IPAddress remoteUnderlay, IPAddress remoteVtepIp, PhysicalAddress remoteMac)
    {
        var ul = nl.LinkByName(UnderlayName);
        nl.AddrAdd(new Address(ul.Index, new IpPrefix(underlay, 24)));
        nl.LinkSetUp(ul.Index);

        nl.LinkAddVxlan(new VxlanSpec(VtepName, Vni)
        {
            Local = underlay,
            UnderlayDevice = ul.Index,
            Port = Port,
            Learning = false,
            Gbp = true,
            Mac = mac,
        });
        int vtep = nl.LinkByName(VtepName).Index;
        nl.AddrAdd(new Address(vtep, new IpPrefix(vtepIp, 16)));
        nl.LinkSetUp(vtep);
        nl.AddrAdd(new Address(nl.LinkByName("lo").Index, new IpPrefix(hostIp, 32)));

        nl.RouteReplace(new Route { Dst = new IpPrefix(remoteVtepIp, 24), Gateway = remoteVtepIp, Device = vtep, OnLink = true });
        nl.NeighReplace(new Neighbor(vtep, remoteVtepIp, remoteMac));
        nl.FdbReplace(new FdbEntry(vtep, remoteMac) { Dst = remoteUnderlay });
    }

    /// <summary>
    /// Opens a TCP connection from <paramref name="fromIp"/> in <paramref name="from"/> to
    /// <paramref name="toIp"/> in <paramref name="to"/>, sends a few bytes and reads them on the other
    /// side. Returns false when no connection was made within <paramref name="timeout"/> (dropped).
    /// </summary>
    public static bool TryTcpExchange(NetNs from, IPAddress fromIp, NetNs to, IPAddress toIp, TimeSpan timeout)
    {
        using var listener = to.OpenSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(toIp, 0));
        listener.Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var client = from.OpenSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(fromIp, 0));
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                client.ConnectAsync(new IPEndPoint(toIp, port), cts.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (SocketException)
            {
                return false;
            }
        }
        using var server = listener.Accept();
        client.Send("weft"u8);
        var buf = new byte[4];
        int got = 0;
        server.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        while (got < 4)
        {
            int n = server.Receive(buf.AsSpan(got));
            if (n == 0) return false;
            got += n;
        }
        return buf.AsSpan().SequenceEqual("weft"u8) && ((IPEndPoint)server.RemoteEndPoint!).Address.Equals(fromIp);
    }

    /// <summary><see cref="TryTcpExchange"/> from A's overlay host address to B's.</summary>
    public bool TryTcpAtoB(TimeSpan timeout) => TryTcpExchange(NsA, OverlayHostA, NsB, OverlayHostB, timeout);

    /// <summary><see cref="TryTcpExchange"/> from B's overlay host address to A's.</summary>
    public bool TryTcpBtoA(TimeSpan timeout) => TryTcpExchange(NsB, OverlayHostB, NsA, OverlayHostA, timeout);

    public void Dispose()
    {
        HostB.Dispose();
        HostA.Dispose();
    }
}
