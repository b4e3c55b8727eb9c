using System.Net;
using System.Net.NetworkInformation;

namespace Weft.Linux.Tests;

/// <summary>Kernel replies (bytes laid out as the kernel sends them) decoded by Weft.Linux.</summary>
public class NetlinkDecodingTests
{
    // An RTM_NEWLINK reply for a VXLAN-GBP device followed by NLMSG_DONE in one datagram, as a dump
    // delivers it. The kernel nests IFLA_LINKINFO without NLA_F_NESTED.
    private static readonly byte[] VxlanReply = Hex.Parse("""
        94000000 1000 0200 2a000000 00000000   # len 148, RTM_NEWLINK, NLM_F_MULTI, seq 42
        00 00 0100 05000000 43100100 00000000  # ifinfomsg: ARPHRD_ETHER, index 5, UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
        0e00 0300 776566742d7674657000 0000    # IFLA_IFNAME "weft-vtep"
        0800 0d00 e8030000                     # IFLA_TXQLEN 1000 (ignored)
        0500 1000 06 000000                    # IFLA_OPERSTATE up
        0800 0400 aa050000                     # IFLA_MTU 1450
        0a00 0100 eeee0aff0100 0000            # IFLA_ADDRESS ee:ee:0a:ff:01:00
        4000 1200                              # IFLA_LINKINFO
          0a00 0100 76786c616e00 0000          #   IFLA_INFO_KIND "vxlan"
          3000 0200                            #   IFLA_INFO_DATA
            0800 0100 01000000                 #     IFLA_VXLAN_ID 1
            0800 0300 02000000                 #     IFLA_VXLAN_LINK 2
            0800 0400 c6120001                 #     IFLA_VXLAN_LOCAL 198.18.0.1
            0500 0700 00 000000                #     IFLA_VXLAN_LEARNING 0
            0600 0f00 12b5 0000                #     IFLA_VXLAN_PORT 4789
            0400 1700                          #     IFLA_VXLAN_GBP
        14000000 0300 0200 2a000000 00000000   # NLMSG_DONE, NLM_F_MULTI
        00000000                               # error 0
        """);

    [Fact]
    public void Vxlan_link_reply_decodes_to_a_typed_link()
    {
        var links = new List<Link>();
        var types = new List<ushort>();
        foreach (var m in new NetlinkMessageReader(VxlanReply))
        {
            types.Add(m.Type);
            Assert.Equal(42u, m.Seq);
            if (LinkMessages.Parse(m, out var link)) links.Add(link);
        }
        Assert.Equal([Rtm.RTM_NEWLINK, Nl.NLMSG_DONE], types);
        var l = Assert.Single(links);
        Assert.Equal(5, l.Index);
        Assert.Equal("weft-vtep", l.Name);
        Assert.Equal("vxlan", l.Kind);
        Assert.Equal(1450, l.Mtu);
        Assert.True(l.IsUp);
        Assert.Equal(6, l.OperState);
        Assert.Equal(PhysicalAddress.Parse("ee-ee-0a-ff-01-00"), l.Mac);
        Assert.Equal(new VxlanInfo(1, 4789, IPAddress.Parse("198.18.0.1"), 2, Learning: false, Gbp: true), l.Vxlan);
    }

    [Fact]
    public void Error_with_extended_ack_becomes_a_NetlinkException_with_errno_and_message()
    {
        var reply = Hex.Parse("""
            30000000 0200 0003 01000000 00000000   # len 48, NLMSG_ERROR, NLM_F_CAPPED|NLM_F_ACK_TLVS
            efffffff                               # -EEXIST
            78000000 1000 0506 01000000 00000000   # the request's header only (capped)
            0b00 0100 657869737473 00 00           # NLMSGERR_ATTR_MSG "exists"
            """);
        var e = Assert.Throws<NetlinkException>(() =>
        {
            var r = new NetlinkMessageReader(reply);
            Assert.True(r.MoveNext());
            NetlinkSocket.ThrowIfError(r.Current, "ip link add x");
        });
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Equal("exists", e.Detail);
        Assert.Contains("EEXIST", e.Message);
    }

    [Fact]
    public void Ack_with_code_zero_does_not_throw()
    {
        var ack = Hex.Parse("24000000 0200 0001 01000000 00000000 00000000 20000000 1000 0506 01000000 00000000");
        var r = new NetlinkMessageReader(ack);
        Assert.True(r.MoveNext());
        NetlinkSocket.ThrowIfError(r.Current, "x");
    }

    [Fact]
    public void Message_length_past_the_buffer_is_a_format_error()
    {
        var bad = Hex.Parse("40000000 1000 0000 00000000 00000000 0000");
        Assert.Throws<NetlinkFormatException>(() =>
        {
            foreach (var _ in new NetlinkMessageReader(bad)) { }
        });
    }

    [Fact]
    public void Address_reply_with_peer_and_route_reply_decode()
    {
        var addr = Hex.Parse("""
            38000000 1400 0200 01000000 00000000   # RTM_NEWADDR
            02 20 80 00 03000000                   # AF_INET /32 IFA_F_PERMANENT scope universe index 3
            0800 0100 a9fe0001                     # IFA_ADDRESS (peer) 169.254.0.1
            0800 0200 0aff0100                     # IFA_LOCAL 10.255.1.0
            0800 0800 80000000                     # IFA_FLAGS
            0800 0300 7700 0000                    # IFA_LABEL "w"
            """);
        var r = new NetlinkMessageReader(addr);
        Assert.True(r.MoveNext());
        Assert.True(AddrMessages.Parse(r.Current, out var a));
        Assert.Equal(new Address(3, IpPrefix.Parse("10.255.1.0/32")) { Peer = IPAddress.Parse("169.254.0.1"), Flags = 0x80, Label = "w" }, a);

        var route = Hex.Parse("""
            3c000000 1800 0200 01000000 00000000   # RTM_NEWROUTE
            02 18 00 00 fe 04 00 01 04000000       # /24 main static universe unicast onlink
            0800 0f00 fe000000                     # RTA_TABLE 254
            0800 0100 0aff0200                     # RTA_DST
            0800 0500 0aff0200                     # RTA_GATEWAY
            0800 0400 05000000                     # RTA_OIF
            """);
        r = new NetlinkMessageReader(route);
        Assert.True(r.MoveNext());
        Assert.True(RouteMessages.Parse(r.Current, out var rt));
        Assert.Equal(new Route
        {
            Dst = IpPrefix.Parse("10.255.2.0/24"), Gateway = IPAddress.Parse("10.255.2.0"), Device = 5, OnLink = true,
            Protocol = Rtm.RTPROT_STATIC, Family = System.Net.Sockets.AddressFamily.InterNetwork,
        }, rt);
    }

    [Fact]
    public void IpPrefix_keeps_host_bits_and_computes_the_network()
    {
        var p = IpPrefix.Parse("10.255.1.7/16");
        Assert.Equal("10.255.1.7/16", p.ToString());
        Assert.Equal("10.255.0.0/16", p.Network().ToString());
        Assert.Equal(32, IpPrefix.Parse("10.0.0.1").Length);
        Assert.Throws<FormatException>(() => IpPrefix.Parse("10.0.0.1/33"));
    }
}
