using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Weft.TestSupport;

namespace Weft.Linux.Tests;

/// <summary>The two-host VXLAN-GBP overlay of the issue, built through Weft.Linux, read back, cross-checked with iproute2, and carrying traffic.</summary>
public class VxlanRootTests
{
    private static JsonElement Json(string stdout) => JsonDocument.Parse(stdout).RootElement;

    [RootFact]
    public void Two_hosts_joined_by_vxlan_gbp_read_back_and_carry_tcp_and_udp()
    {
        using var t = TwoHostVxlan.Create();
        var na = t.HostA.Netlink;
        var nb = t.HostB.Netlink;

        // Links read back through Weft.Linux.
        var ulA = na.LinkByName(TwoHostVxlan.UnderlayName);
        var vtepA = na.LinkByName(TwoHostVxlan.VtepName);
        Assert.Equal("vxlan", vtepA.Kind);
        Assert.Equal(new VxlanInfo(1, 4789, TwoHostVxlan.UnderlayA, ulA.Index, Learning: false, Gbp: true), vtepA.Vxlan);
        Assert.Equal(TwoHostVxlan.VtepMacA, vtepA.Mac);
        Assert.True(vtepA.IsUp);
        var vtepB = nb.LinkByName(TwoHostVxlan.VtepName);
        Assert.Equal(TwoHostVxlan.UnderlayB, vtepB.Vxlan!.Local);

        // …and by iproute2.
        var j = Json(t.HostA.Ip("-j -d link show dev weft-vtep"))[0];
        var info = j.GetProperty("linkinfo");
        Assert.Equal("vxlan", info.GetProperty("info_kind").GetString());
        var data = info.GetProperty("info_data");
        Assert.Equal(1, data.GetProperty("id").GetInt32());
        Assert.Equal("198.18.0.1", data.GetProperty("local").GetString());
        Assert.Equal(4789, data.GetProperty("port").GetInt32());
        Assert.Equal("weft-ul", data.GetProperty("link").GetString());
        Assert.False(data.GetProperty("learning").GetBoolean());
        Assert.True(data.GetProperty("gbp").GetBoolean());
        Assert.Equal("ee:ee:0a:ff:01:00", j.GetProperty("address").GetString());

        // Route, neighbour and FDB entry for the remote host.
        var route = Assert.Single(na.RouteList(), r => r.Dst == IpPrefix.Parse("10.255.2.0/24"));
        Assert.Equal((TwoHostVxlan.VtepIpB, vtepA.Index, true), (route.Gateway, route.Device, route.OnLink));
        var jr = Json(t.HostA.Ip("-j route show 10.255.2.0/24"))[0];
        Assert.Equal("10.255.2.0", jr.GetProperty("gateway").GetString());
        Assert.Equal("weft-vtep", jr.GetProperty("dev").GetString());
        Assert.Contains("onlink", jr.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));

        var neigh = Assert.Single(na.NeighList(vtepA.Index, AddressFamily.InterNetwork), n => n.Ip.Equals(TwoHostVxlan.VtepIpB));
        Assert.Equal((TwoHostVxlan.VtepMacB, Nda.NUD_PERMANENT), (neigh.Mac, neigh.State));
        var jn = Json(t.HostA.Ip("-j neigh show dev weft-vtep")).EnumerateArray().Single(e => e.GetProperty("dst").GetString() == "10.255.2.0");
        Assert.Equal("ee:ee:0a:ff:02:00", jn.GetProperty("lladdr").GetString());
        Assert.Contains("PERMANENT", jn.GetProperty("state").EnumerateArray().Select(s => s.GetString()));

        var fdb = Assert.Single(na.FdbList(vtepA.Index), f => f.Mac.Equals(TwoHostVxlan.VtepMacB));
        Assert.Equal((TwoHostVxlan.UnderlayB, Nda.NUD_PERMANENT), (fdb.Dst, fdb.State));
        Assert.True((fdb.Flags & Nda.NTF_SELF) != 0);
        var jf = Json(t.HostA.Exec("bridge", "-j", "fdb", "show", "dev", "weft-vtep")).EnumerateArray()
            .Single(e => e.GetProperty("mac").GetString() == "ee:ee:0a:ff:02:00");
        Assert.Equal("198.18.0.2", jf.GetProperty("dst").GetString());
        Assert.Contains("self", jf.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("permanent", jf.GetProperty("state").GetString());

        // Real traffic across the overlay, both ways.
        long rxBefore = RxPackets(t.HostB, "weft-vtep");
        Assert.True(t.TryTcpAtoB(TimeSpan.FromSeconds(10)));
        Assert.True(t.TryTcpBtoA(TimeSpan.FromSeconds(10)));
        Assert.Equal("pong", UdpEcho(t.NsA, TwoHostVxlan.OverlayHostA, t.NsB, TwoHostVxlan.OverlayHostB, "pong"));
        // It went through B's VXLAN device (decapsulated there), not around it.
        Assert.True(RxPackets(t.HostB, "weft-vtep") > rxBefore);

        // Without the FDB entry the overlay is cut (nolearning: nothing refills it).
        na.FdbDel(new FdbEntry(vtepA.Index, TwoHostVxlan.VtepMacB) { Dst = TwoHostVxlan.UnderlayB });
        Assert.DoesNotContain(na.FdbList(vtepA.Index), f => f.Mac.Equals(TwoHostVxlan.VtepMacB));
        Assert.Equal(Errno.ENOENT, Assert.Throws<NetlinkException>(() => na.FdbDel(new FdbEntry(vtepA.Index, TwoHostVxlan.VtepMacB) { Dst = TwoHostVxlan.UnderlayB })).Errno);
        Assert.False(t.TryTcpAtoB(TimeSpan.FromSeconds(1)));
        na.FdbReplace(new FdbEntry(vtepA.Index, TwoHostVxlan.VtepMacB) { Dst = TwoHostVxlan.UnderlayB });
        Assert.True(t.TryTcpAtoB(TimeSpan.FromSeconds(10)));
    }

    [RootFact]
    public void Fdb_append_keeps_several_destinations_for_one_mac()
    {
        using var a = TestNetns.Create("fdb");
        var nl = a.Netlink;
        nl.LinkAddVxlan(new VxlanSpec("weft-vx", 7) { Local = IPAddress.Parse("198.18.1.1"), Learning = false });
        int dev = nl.LinkByName("weft-vx").Index;
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => nl.LinkAddVxlan(new VxlanSpec("weft-vx", 7))).Errno);
        var zero = PhysicalAddress.Parse("00-00-00-00-00-00");
        nl.FdbAppend(new FdbEntry(dev, zero) { Dst = IPAddress.Parse("198.18.1.2") });
        nl.FdbAppend(new FdbEntry(dev, zero) { Dst = IPAddress.Parse("198.18.1.3") });
        Assert.Equal(["198.18.1.2", "198.18.1.3"],
            nl.FdbList(dev).Where(f => f.Mac.Equals(zero)).Select(f => f.Dst!.ToString()).Order());
        nl.FdbDel(new FdbEntry(dev, zero) { Dst = IPAddress.Parse("198.18.1.2") });
        Assert.Equal(["198.18.1.3"], nl.FdbList(dev).Where(f => f.Mac.Equals(zero)).Select(f => f.Dst!.ToString()));
        var jf = Json(a.Exec("bridge", "-j", "fdb", "show", "dev", "weft-vx")).EnumerateArray()
            .Where(e => e.GetProperty("mac").GetString() == "00:00:00:00:00:00").Select(e => e.GetProperty("dst").GetString());
        Assert.Equal(["198.18.1.3"], jf);
    }

    private static long RxPackets(TestNetns ns, string dev) =>
        Json(ns.Ip($"-j -s link show dev {dev}"))[0].GetProperty("stats64").GetProperty("rx").GetProperty("packets").GetInt64();

    private static string UdpEcho(NetNs from, IPAddress fromIp, NetNs to, IPAddress toIp, string text)
    {
        using var server = to.OpenSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(toIp, 0));
        server.ReceiveTimeout = 10_000;
        using var client = from.OpenSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(fromIp, 0));
        client.ReceiveTimeout = 10_000;
        client.SendTo(System.Text.Encoding.ASCII.GetBytes(text), server.LocalEndPoint!);
        var buf = new byte[64];
        EndPoint peer = new IPEndPoint(IPAddress.Any, 0);
        int n = server.ReceiveFrom(buf, ref peer);
        server.SendTo(buf.AsSpan(0, n), peer);
        n = client.Receive(buf);
        return System.Text.Encoding.ASCII.GetString(buf, 0, n);
    }
}
