using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Weft.TestSupport;

namespace Weft.Linux.Tests;

/// <summary>
/// Two throwaway namespaces joined by a veth pair built through Weft.Linux; state read back through
/// Weft.Linux and cross-checked with `ip -j`; real TCP across it.
/// </summary>
public class LinkRootTests
{
    private static readonly PhysicalAddress MacA = PhysicalAddress.Parse("02-00-c6-12-00-01");
    private static readonly PhysicalAddress MacB = PhysicalAddress.Parse("02-00-c6-12-00-02");

    private static JsonElement IpJson(TestNetns ns, string args) => JsonDocument.Parse(ns.Ip("-j " + args)).RootElement;

    [RootFact]
    public void Veth_between_namespaces_with_addresses_and_route_carries_tcp()
    {
        using var a = TestNetns.Create("a");
        using var b = TestNetns.Create("b");
        var na = a.Netlink;
        var nb = b.Netlink;

        na.LinkAddVeth("wt-a", "wt-b", b.Ns, mtu: 1400, mac: MacA, peerMac: MacB);
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => na.LinkAddVeth("wt-a", "wt-x")).Errno);
        na.LinkSetUp("wt-a");
        nb.LinkSetUp("wt-b");
        Assert.Null(na.TryLinkByName("wt-b")); // the peer is in b only

        var la = na.LinkByName("wt-a");
        var lb = nb.LinkByName("wt-b");
        Assert.Equal(la, na.LinkByIndex(la.Index));
        Assert.Equal(("veth", 1400, MacA, true), (la.Kind, la.Mtu, la.Mac, la.IsUp));
        Assert.Equal(("veth", 1400, MacB, true), (lb.Kind, lb.Mtu, lb.Mac, lb.IsUp));
        Assert.NotNull(la.LinkNetnsId);
        Assert.Contains(na.LinkList(), l => l.Name == "wt-a");

        var ja = IpJson(a, "link show dev wt-a")[0];
        Assert.Equal(la.Index, ja.GetProperty("ifindex").GetInt32());
        Assert.Equal(1400, ja.GetProperty("mtu").GetInt32());
        Assert.Equal("02:00:c6:12:00:01", ja.GetProperty("address").GetString());
        Assert.Contains("UP", ja.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(lb.Index, ja.GetProperty("link_index").GetInt32());

        // Underlay addresses and an overlay-looking /32 on B's loopback, reached through a route on A.
        na.AddrAdd(new Address(la.Index, IpPrefix.Parse("198.18.0.1/24")));
        nb.AddrAdd(new Address(lb.Index, IpPrefix.Parse("198.18.0.2/24")));
        int loB = nb.LinkByName("lo").Index;
        nb.AddrAdd(new Address(loB, IpPrefix.Parse("10.255.9.1/32")));
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => na.AddrAdd(new Address(la.Index, IpPrefix.Parse("198.18.0.1/24")))).Errno);

        var route = new Route { Dst = IpPrefix.Parse("10.255.9.0/24"), Gateway = IPAddress.Parse("198.18.0.2"), Device = la.Index, Metric = 20 };
        na.RouteAdd(route);
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => na.RouteAdd(route)).Errno);
        na.RouteReplace(route with { Protocol = Rtm.RTPROT_STATIC });

        var addrs = na.AddrList(la.Index, AddressFamily.InterNetwork);
        Assert.Equal([IpPrefix.Parse("198.18.0.1/24")], addrs.Select(x => x.Prefix));
        var jaddr = IpJson(a, "-4 addr show dev wt-a")[0].GetProperty("addr_info")[0];
        Assert.Equal("198.18.0.1", jaddr.GetProperty("local").GetString());
        Assert.Equal(24, jaddr.GetProperty("prefixlen").GetInt32());

        var r = Assert.Single(na.RouteList(), x => x.Dst == IpPrefix.Parse("10.255.9.0/24"));
        Assert.Equal((IPAddress.Parse("198.18.0.2"), la.Index, 20u, Rtm.RTPROT_STATIC), (r.Gateway, r.Device, r.Metric, r.Protocol));
        Assert.Contains(na.RouteList(), x => x.Dst == IpPrefix.Parse("198.18.0.0/24") && x.Protocol == Rtm.RTPROT_KERNEL && x.Scope == Rtm.RT_SCOPE_LINK);
        var jr = IpJson(a, "route show 10.255.9.0/24")[0];
        Assert.Equal("198.18.0.2", jr.GetProperty("gateway").GetString());
        Assert.Equal("wt-a", jr.GetProperty("dev").GetString());
        Assert.Equal("static", jr.GetProperty("protocol").GetString());
        Assert.Equal(20, jr.GetProperty("metric").GetInt32());

        // Real traffic: a TCP connection from A to B's 10.255.9.1, sockets made inside each namespace.
        using var listener = b.Ns.OpenSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Parse("10.255.9.1"), 0));
        listener.Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var client = a.Ns.OpenSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(new IPEndPoint(IPAddress.Parse("10.255.9.1"), port));
        using var server = listener.Accept();
        client.Send("hello"u8);
        var buf = new byte[5];
        int got = 0;
        while (got < 5) got += server.Receive(buf.AsSpan(got));
        Assert.Equal("hello"u8.ToArray(), buf);
        Assert.Equal(IPAddress.Parse("198.18.0.1"), ((IPEndPoint)server.RemoteEndPoint!).Address);

        // Deletions: the second one reports the errno of a missing object.
        na.RouteDel(route);
        Assert.Equal(Errno.ESRCH, Assert.Throws<NetlinkException>(() => na.RouteDel(route)).Errno);
        Assert.DoesNotContain(na.RouteList(), x => x.Dst == IpPrefix.Parse("10.255.9.0/24"));
        na.AddrDel(new Address(la.Index, IpPrefix.Parse("198.18.0.1/24")));
        Assert.Empty(na.AddrList(la.Index, AddressFamily.InterNetwork));
        Assert.Equal(Errno.EADDRNOTAVAIL, Assert.Throws<NetlinkException>(() => na.AddrDel(new Address(la.Index, IpPrefix.Parse("198.18.0.1/24")))).Errno);
    }

    [RootFact]
    public void Link_attributes_change_and_links_move_between_namespaces()
    {
        using var a = TestNetns.Create("a");
        using var b = TestNetns.Create("b");
        var na = a.Netlink;
        na.LinkAddVeth("wt-0", "wt-1");
        na.LinkSetMtu("wt-0", 1300);
        var mac = PhysicalAddress.Parse("02-00-00-00-00-42");
        na.LinkSetMac("wt-0", mac);
        na.LinkSetUp("wt-0");
        Assert.Equal((1300, mac, true), (na.LinkByName("wt-0").Mtu, na.LinkByName("wt-0").Mac, na.LinkByName("wt-0").IsUp));
        var j = IpJson(a, "link show dev wt-0")[0];
        Assert.Equal(1300, j.GetProperty("mtu").GetInt32());
        Assert.Equal("02:00:00:00:00:42", j.GetProperty("address").GetString());

        na.LinkSetDown("wt-0");
        Assert.False(na.LinkByName("wt-0").IsUp);
        na.LinkSetName("wt-0", "wt-renamed");
        Assert.Null(na.TryLinkByName("wt-0"));
        Assert.Equal(1300, na.LinkByName("wt-renamed").Mtu);

        na.LinkSetNamespace("wt-1", b.Ns);
        Assert.Null(na.TryLinkByName("wt-1"));
        Assert.Equal("veth", b.Netlink.LinkByName("wt-1").Kind);
        Assert.Contains("wt-1", b.Ip("link show"));

        // Deleting one end of a veth removes both, even across namespaces.
        na.LinkDel("wt-renamed");
        Assert.Null(b.Netlink.TryLinkByName("wt-1"));
        var missing = Assert.Throws<NetlinkException>(() => na.LinkDel("wt-renamed"));
        Assert.Equal(Errno.ENODEV, missing.Errno);
        Assert.True(missing.IsNotFound);
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => na.LinkByName("wt-renamed")).Errno);
    }

    [RootFact]
    public void Af_spec_sets_rp_filter_and_addrgenmode_none_without_proc()
    {
        using var a = TestNetns.Create("afspec");
        a.Netlink.LinkAddVeth("wefttest-a0", "wefttest-a1");
        int index = a.Netlink.LinkByName("wefttest-a0").Index;
        a.Netlink.LinkSetAfSpec(index, [(Ifla.IPV4_DEVCONF_RP_FILTER, 1), (Ifla.IPV4_DEVCONF_SEND_REDIRECTS, 0)], Ifla.IN6_ADDR_GEN_MODE_NONE);
        Assert.Equal("1", Sysctl.Read(a.Ns, "net/ipv4/conf/wefttest-a0/rp_filter"));
        Assert.Equal("0", Sysctl.Read(a.Ns, "net/ipv4/conf/wefttest-a0/send_redirects"));
        Assert.Equal("1", Sysctl.Read(a.Ns, "net/ipv6/conf/wefttest-a0/addr_gen_mode"));
        Assert.Equal("0", Sysctl.Read(a.Ns, "net/ipv4/conf/wefttest-a1/rp_filter")); // the peer is untouched

        // Both ends up: the carrier comes, and with addrgenmode none no link-local address is made.
        a.Netlink.LinkSetUp("wefttest-a1");
        a.Netlink.LinkSetUp(index);
        int peer = a.Netlink.LinkByName("wefttest-a1").Index;
        for (var i = 0; i < 3000 && (a.Netlink.LinkByIndex(index).OperState != 6 /* IF_OPER_UP */ || a.Netlink.LinkByIndex(peer).OperState != 6); i++)
        {
            Thread.Sleep(20);
        }

        Assert.Equal(6, a.Netlink.LinkByIndex(index).OperState);
        Assert.Empty(a.Netlink.AddrList(index, AddressFamily.InterNetworkV6));
        Assert.NotEmpty(a.Netlink.AddrList(peer, AddressFamily.InterNetworkV6)); // the peer (default mode) got one

        // Bad keys are refused with the kernel's errno, nothing is set.
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => a.Netlink.LinkSetAfSpec(index, [(9999, 1)])).Errno);
    }

    [RootFact]
    public void Permanent_neighbours_are_replaced_listed_and_deleted()
    {
        using var a = TestNetns.Create("a");
        var na = a.Netlink;
        na.LinkAddVeth("wt-n0", "wt-n1");
        na.LinkSetUp("wt-n0");
        int dev = na.LinkByName("wt-n0").Index;
        var n = new Neighbor(dev, IPAddress.Parse("198.18.0.9"), PhysicalAddress.Parse("02-00-00-00-00-09"));
        na.NeighReplace(n);
        na.NeighReplace(n with { Mac = PhysicalAddress.Parse("02-00-00-00-00-0a") }); // replace is idempotent and updates
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => na.NeighAdd(n)).Errno);

        var got = Assert.Single(na.NeighList(dev, AddressFamily.InterNetwork), x => x.Ip.Equals(n.Ip));
        Assert.Equal((PhysicalAddress.Parse("02-00-00-00-00-0a"), Nda.NUD_PERMANENT), (got.Mac, got.State));
        var j = IpJson(a, "neigh show dev wt-n0").EnumerateArray().Single(e => e.GetProperty("dst").GetString() == "198.18.0.9");
        Assert.Equal("02:00:00:00:00:0a", j.GetProperty("lladdr").GetString());
        Assert.Contains("PERMANENT", j.GetProperty("state").EnumerateArray().Select(s => s.GetString()));

        na.NeighDel(n);
        Assert.DoesNotContain(na.NeighList(dev), x => x.Ip.Equals(n.Ip));
        Assert.Equal(Errno.ENOENT, Assert.Throws<NetlinkException>(() => na.NeighDel(n)).Errno);
    }

    [RootFact]
    public void Point_to_point_address_with_peer_reads_back()
    {
        using var a = TestNetns.Create("a");
        var na = a.Netlink;
        na.LinkAddVeth("wt-p0", "wt-p1");
        int dev = na.LinkByName("wt-p0").Index;
        var addr = new Address(dev, IpPrefix.Parse("10.255.1.2/32")) { Peer = IPAddress.Parse("169.254.0.1") };
        na.AddrAdd(addr);
        var got = Assert.Single(na.AddrList(dev, AddressFamily.InterNetwork));
        Assert.Equal((addr.Prefix, addr.Peer), (got.Prefix, got.Peer));
        var j = IpJson(a, "-4 addr show dev wt-p0")[0].GetProperty("addr_info")[0];
        Assert.Equal("10.255.1.2", j.GetProperty("local").GetString());
        Assert.Equal("169.254.0.1", j.GetProperty("address").GetString());
    }

    [RootFact]
    public void Route_options_src_scope_table_and_ipv6_read_back()
    {
        using var a = TestNetns.Create("rt");
        var nl = a.Netlink;
        nl.LinkAddVeth("wt-r0", "wt-r1");
        nl.LinkSetUp("wt-r0");
        nl.LinkSetUp("wt-r1");
        int dev = nl.LinkByName("wt-r0").Index;
        nl.AddrAdd(new Address(dev, IpPrefix.Parse("198.18.3.1/24")));
        nl.AddrAdd(new Address(dev, IpPrefix.Parse("fd00:198:18::1/64")) { Flags = Ifa.IFA_F_NODAD });

        var withSrc = new Route { Dst = IpPrefix.Parse("10.255.3.0/24"), Gateway = IPAddress.Parse("198.18.3.2"), Src = IPAddress.Parse("198.18.3.1"), Device = dev };
        var linkScope = new Route { Dst = IpPrefix.Parse("10.255.4.0/24"), Device = dev, Scope = Rtm.RT_SCOPE_LINK };
        var inTable = new Route { Dst = IpPrefix.Parse("10.255.5.0/24"), Gateway = IPAddress.Parse("198.18.3.2"), Device = dev, Table = 1000 };
        var v6 = new Route { Dst = IpPrefix.Parse("fd00:255::/48"), Gateway = IPAddress.Parse("fd00:198:18::2"), Device = dev };
        nl.RouteAdd(withSrc);
        nl.RouteAdd(linkScope);
        nl.RouteAdd(inTable);
        nl.RouteAdd(v6);

        var main = nl.RouteList();
        Assert.Equal(IPAddress.Parse("198.18.3.1"), main.Single(r => r.Dst == withSrc.Dst).Src);
        Assert.Equal(Rtm.RT_SCOPE_LINK, main.Single(r => r.Dst == linkScope.Dst).Scope);
        Assert.DoesNotContain(main, r => r.Dst == inTable.Dst);
        Assert.Equal(1000u, Assert.Single(nl.RouteList(table: 1000)).Table);
        Assert.Equal(IPAddress.Parse("fd00:198:18::2"), nl.RouteList(AddressFamily.InterNetworkV6).Single(r => r.Dst == v6.Dst).Gateway);
        Assert.Contains(nl.AddrList(dev, AddressFamily.InterNetworkV6), x => x.Prefix == IpPrefix.Parse("fd00:198:18::1/64"));

        Assert.Equal("198.18.3.1", IpJson(a, "route show 10.255.3.0/24")[0].GetProperty("prefsrc").GetString());
        Assert.Equal("link", IpJson(a, "route show 10.255.4.0/24")[0].GetProperty("scope").GetString());
        Assert.Equal("198.18.3.2", IpJson(a, "route show table 1000")[0].GetProperty("gateway").GetString());
        Assert.Equal("fd00:198:18::2", IpJson(a, "-6 route show fd00:255::/48")[0].GetProperty("gateway").GetString());

        nl.RouteDel(inTable);
        nl.RouteDel(v6);
        Assert.Empty(nl.RouteList(table: 1000));
        Assert.DoesNotContain(nl.RouteList(AddressFamily.InterNetworkV6), r => r.Dst == v6.Dst);
        // A destination with host bits is refused by the kernel with EINVAL and its reason.
        var bad = Assert.Throws<NetlinkException>(() => nl.RouteAdd(new Route { Dst = IpPrefix.Parse("10.255.6.1/24"), Device = dev }));
        Assert.Equal(Errno.EINVAL, bad.Errno);
        Assert.NotNull(bad.Detail);
    }
}
