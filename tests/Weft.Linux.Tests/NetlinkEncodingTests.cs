using System.Net;
using System.Net.NetworkInformation;

namespace Weft.Linux.Tests;

/// <summary>Netlink requests encoded by Weft.Linux compared with bytes computed by hand from the uapi headers.</summary>
public class NetlinkEncodingTests
{
    private static string Encode(WriteAction write)
    {
        var w = NetlinkWriter.Pooled(16);
        try
        {
            write(ref w);
            return Hex.Format(w.Written);
        }
        finally
        {
            w.Dispose();
        }
    }

    private delegate void WriteAction(ref NetlinkWriter w);

    [Fact]
    public void Veth_with_peer_in_another_namespace_matches_hand_computed_bytes()
    {
        // ip link add veth0 mtu 1400 type veth peer name veth1 mtu 1400 netns <fd 7>
        var expected = Hex.Parse("""
            78000000 1000 0006 00000000 00000000   # nlmsghdr: len 120, RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL
            00 00 0000 00000000 00000000 00000000  # ifinfomsg
            0a00 0300 7665746830 00 0000           # IFLA_IFNAME "veth0"
            0800 0400 78050000                     # IFLA_MTU 1400
            4400 1280                              # IFLA_LINKINFO | NLA_F_NESTED, 68 bytes
              0900 0100 76657468 00 000000         #   IFLA_INFO_KIND "veth"
              3400 0280                            #   IFLA_INFO_DATA, 52 bytes
                3000 0180                          #     VETH_INFO_PEER, 48 bytes
                  00 00 0000 00000000 00000000 00000000  # ifinfomsg of the peer
                  0a00 0300 7665746831 00 0000     #       IFLA_IFNAME "veth1"
                  0800 0400 78050000               #       IFLA_MTU 1400
                  0800 1c00 07000000               #       IFLA_NET_NS_FD 7
            """);
        var actual = Encode((ref NetlinkWriter w) => LinkMessages.WriteAddVeth(ref w, "veth0", "veth1", 7, 1400, null, null));
        Assert.Equal(Hex.Format(expected), actual);
    }

    [Fact]
    public void Af_spec_with_ipv4_devconf_and_addrgenmode_matches_hand_computed_bytes()
    {
        // sysctl -w net.ipv4.conf.<5>.rp_filter=1; ip link set dev <5> addrgenmode none (one RTM_SETLINK)
        var expected = Hex.Parse("""
            40000000 1000 0000 00000000 00000000   # nlmsghdr: len 64, RTM_NEWLINK, no create flags
            00 00 0000 05000000 00000000 00000000  # ifinfomsg, index 5
            2000 1a80                              # IFLA_AF_SPEC | NLA_F_NESTED, 32 bytes
              1000 0280                            #   AF_INET, 16 bytes
                0c00 0180                          #     IFLA_INET_CONF, 12 bytes
                  0800 0800 01000000               #       IPV4_DEVCONF_RP_FILTER = 1
              0c00 0a80                            #   AF_INET6, 12 bytes
                0500 0800 01 000000                #     IFLA_INET6_ADDR_GEN_MODE = IN6_ADDR_GEN_MODE_NONE
            """);
        var actual = Encode((ref NetlinkWriter w) => LinkMessages.WriteSetAfSpec(ref w, 5, [(Ifla.IPV4_DEVCONF_RP_FILTER, 1)], Ifla.IN6_ADDR_GEN_MODE_NONE));
        Assert.Equal(Hex.Format(expected), actual);
    }

    [Fact]
    public void Vxlan_gbp_nolearning_matches_hand_computed_bytes()
    {
        // ip link add weft-vtep type vxlan id 1 local 198.18.0.1 dev <2> dstport 4789 nolearning gbp
        var expected = Hex.Parse("""
            70000000 1000 0006 00000000 00000000   # len 112, RTM_NEWLINK, CREATE|EXCL
            00000000 00000000 00000000 00000000    # ifinfomsg
            0e00 0300 776566742d7674657000 0000    # IFLA_IFNAME "weft-vtep"
            4000 1280                              # IFLA_LINKINFO, 64 bytes
              0a00 0100 7678 6c61 6e00 0000        #   IFLA_INFO_KIND "vxlan"
              3000 0280                            #   IFLA_INFO_DATA, 48 bytes
                0800 0100 01000000                 #     IFLA_VXLAN_ID 1
                0800 0400 c6120001                 #     IFLA_VXLAN_LOCAL 198.18.0.1
                0800 0300 02000000                 #     IFLA_VXLAN_LINK 2
                0600 0f00 12b5 0000                #     IFLA_VXLAN_PORT 4789, network byte order
                0500 0700 00 000000                #     IFLA_VXLAN_LEARNING 0
                0400 1700                          #     IFLA_VXLAN_GBP (flag)
            """);
        var spec = new VxlanSpec("weft-vtep", 1) { Local = IPAddress.Parse("198.18.0.1"), UnderlayDevice = 2, Port = 4789, Learning = false, Gbp = true };
        Assert.Equal(Hex.Format(expected), Encode((ref NetlinkWriter w) => LinkMessages.WriteAddVxlan(ref w, spec)));
    }

    [Fact]
    public void Onlink_route_matches_hand_computed_bytes()
    {
        // ip route add 10.255.2.0/24 via 10.255.2.0 dev <5> onlink
        var expected = Hex.Parse("""
            34000000 1800 0006 00000000 00000000   # len 52, RTM_NEWROUTE, CREATE|EXCL
            02 18 00 00 fe 03 00 01 04000000       # rtmsg: AF_INET /24, main, boot, universe, unicast, RTNH_F_ONLINK
            0800 0100 0aff0200                     # RTA_DST
            0800 0500 0aff0200                     # RTA_GATEWAY
            0800 0400 05000000                     # RTA_OIF
            """);
        var route = new Route { Dst = IpPrefix.Parse("10.255.2.0/24"), Gateway = IPAddress.Parse("10.255.2.0"), Device = 5, OnLink = true };
        Assert.Equal(Hex.Format(expected), Encode((ref NetlinkWriter w) => RouteMessages.Write(ref w, Rtm.RTM_NEWROUTE, Netlink.CreateExcl, route)));
    }

    [Fact]
    public void Route_delete_uses_wildcards_and_table_attribute_above_255()
    {
        var expected = Hex.Parse("""
            34000000 1900 0000 00000000 00000000   # len 52, RTM_DELROUTE
            02 18 00 00 00 00 ff 00 00000000       # rtmsg: table RT_TABLE_UNSPEC, proto 0, scope NOWHERE, type 0
            0800 0f00 e8030000                     # RTA_TABLE 1000
            0800 0100 0aff0200                     # RTA_DST
            0800 0400 05000000                     # RTA_OIF
            """);
        var route = new Route { Dst = IpPrefix.Parse("10.255.2.0/24"), Device = 5, Table = 1000 };
        Assert.Equal(Hex.Format(expected), Encode((ref NetlinkWriter w) => RouteMessages.Write(ref w, Rtm.RTM_DELROUTE, 0, route)));
    }

    [Fact]
    public void Address_with_peer_puts_local_in_IFA_LOCAL_and_peer_in_IFA_ADDRESS()
    {
        // ip addr add 10.255.1.0/32 peer 169.254.0.1 dev <3>
        var expected = Hex.Parse("""
            28000000 1400 0006 00000000 00000000   # len 40, RTM_NEWADDR, CREATE|EXCL
            02 20 00 00 03000000                   # ifaddrmsg: AF_INET /32 index 3
            0800 0200 0aff0100                     # IFA_LOCAL
            0800 0100 a9fe0001                     # IFA_ADDRESS (peer)
            """);
        var a = new Address(3, IpPrefix.Parse("10.255.1.0/32")) { Peer = IPAddress.Parse("169.254.0.1") };
        Assert.Equal(Hex.Format(expected), Encode((ref NetlinkWriter w) => AddrMessages.Write(ref w, Rtm.RTM_NEWADDR, Netlink.CreateExcl, a)));
    }

    [Fact]
    public void Permanent_neighbour_and_vxlan_fdb_entry_match_hand_computed_bytes()
    {
        // ip neigh replace 10.255.2.0 lladdr ee:ee:0a:ff:02:00 dev <4> nud permanent
        var neigh = Hex.Parse("""
            30000000 1c00 0005 00000000 00000000   # len 48, RTM_NEWNEIGH, CREATE|REPLACE
            02 00 0000 04000000 8000 00 00         # ndmsg: AF_INET, index 4, NUD_PERMANENT
            0800 0100 0aff0200                     # NDA_DST
            0a00 0200 eeee0aff0200 0000            # NDA_LLADDR
            """);
        var mac = PhysicalAddress.Parse("ee-ee-0a-ff-02-00");
        Assert.Equal(Hex.Format(neigh), Encode((ref NetlinkWriter w) =>
            NeighMessages.WriteNeighbor(ref w, Rtm.RTM_NEWNEIGH, Netlink.CreateReplace, new Neighbor(4, IPAddress.Parse("10.255.2.0"), mac))));

        // bridge fdb replace ee:ee:0a:ff:02:00 dev <4> dst 198.18.0.2 self permanent
        var fdb = Hex.Parse("""
            30000000 1c00 0005 00000000 00000000   # len 48, RTM_NEWNEIGH, CREATE|REPLACE
            07 00 0000 04000000 8000 02 00         # ndmsg: AF_BRIDGE, index 4, NUD_PERMANENT, NTF_SELF
            0a00 0200 eeee0aff0200 0000            # NDA_LLADDR
            0800 0100 c6120002                     # NDA_DST
            """);
        Assert.Equal(Hex.Format(fdb), Encode((ref NetlinkWriter w) =>
            NeighMessages.WriteFdb(ref w, Rtm.RTM_NEWNEIGH, Netlink.CreateReplace, new FdbEntry(4, mac) { Dst = IPAddress.Parse("198.18.0.2") })));
    }

    [Fact]
    public void Writer_grows_from_a_small_span_and_pads_every_attribute()
    {
        Span<byte> initial = stackalloc byte[8];
        var w = new NetlinkWriter(initial);
        try
        {
            w.BeginMessage(Rtm.RTM_GETLINK, 0);
            w.AttrU8(1, 0xAB);                  // 5 -> 8
            int n = w.BeginNested(2);
            w.AttrString(3, "abcdefg");         // 4 + 8 = 12
            w.AttrU16(4, 0x1234);               // 6 -> 8
            w.EndNested(n);
            w.EndMessage();
            Assert.Equal(16 + 8 + 4 + 12 + 8, w.Length);
            Assert.Equal("30000000120000000000000000000000" + "05000100ab000000" + "18000280" + "0c0003006162636465666700" + "0600040034120000", Hex.Format(w.Written));
        }
        finally
        {
            w.Dispose();
        }
    }
}
