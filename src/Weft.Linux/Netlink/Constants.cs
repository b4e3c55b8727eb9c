// Kernel constants with their kernel names (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h,
// if_addr.h, neighbour.h, veth.h, if.h). Kept as const fields so the names match what `ip monitor`,
// strace and the kernel sources show.
#pragma warning disable CA1707 // kernel names contain underscores on purpose

namespace Weft.Linux;

/// <summary>netlink.h: message header types, flags, socket options.</summary>
public static class Nl
{
    public const int NETLINK_ROUTE = 0;

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;

    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;
    public const ushort NLM_F_ECHO = 0x08;
    public const ushort NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_DUMP_FILTERED = 0x20;
    public const ushort NLM_F_ROOT = 0x100;
    public const ushort NLM_F_MATCH = 0x200;
    public const ushort NLM_F_ATOMIC = 0x400;
    public const ushort NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
    public const ushort NLM_F_REPLACE = 0x100;
    public const ushort NLM_F_EXCL = 0x200;
    public const ushort NLM_F_CREATE = 0x400;
    public const ushort NLM_F_APPEND = 0x800;
    public const ushort NLM_F_CAPPED = 0x100;
    public const ushort NLM_F_ACK_TLVS = 0x200;

    public const ushort NLA_F_NESTED = 0x8000;
    public const ushort NLA_F_NET_BYTEORDER = 0x4000;
    public const ushort NLA_TYPE_MASK = unchecked((ushort)~(NLA_F_NESTED | NLA_F_NET_BYTEORDER));

    public const int NLMSG_HDRLEN = 16;
    public const int NLA_HDRLEN = 4;
    public const int NLMSG_ALIGNTO = 4;

    public const int NETLINK_CAP_ACK = 10;
    public const int NETLINK_EXT_ACK = 11;
    public const int NETLINK_GET_STRICT_CHK = 12;

    public const ushort NLMSGERR_ATTR_MSG = 1;
    public const ushort NLMSGERR_ATTR_OFFS = 2;

    /// <summary>Rounds up to the 4-byte netlink alignment (NLMSG_ALIGN / NLA_ALIGN).</summary>
    public static int Align(int len) => (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

/// <summary>rtnetlink.h message types, route/scope/protocol/table values.</summary>
public static class Rtm
{
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const ushort RTM_SETLINK = 19;
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24;
    public const ushort RTM_DELROUTE = 25;
    public const ushort RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28;
    public const ushort RTM_DELNEIGH = 29;
    public const ushort RTM_GETNEIGH = 30;

    public const byte RT_SCOPE_UNIVERSE = 0;
    public const byte RT_SCOPE_SITE = 200;
    public const byte RT_SCOPE_LINK = 253;
    public const byte RT_SCOPE_HOST = 254;
    public const byte RT_SCOPE_NOWHERE = 255;

    public const byte RT_TABLE_UNSPEC = 0;
    public const byte RT_TABLE_DEFAULT = 253;
    public const byte RT_TABLE_MAIN = 254;
    public const byte RT_TABLE_LOCAL = 255;

    public const byte RTPROT_UNSPEC = 0;
    public const byte RTPROT_REDIRECT = 1;
    public const byte RTPROT_KERNEL = 2;
    public const byte RTPROT_BOOT = 3;
    public const byte RTPROT_STATIC = 4;

    public const byte RTN_UNSPEC = 0;
    public const byte RTN_UNICAST = 1;
    public const byte RTN_LOCAL = 2;
    public const byte RTN_BROADCAST = 3;
    public const byte RTN_ANYCAST = 4;
    public const byte RTN_MULTICAST = 5;
    public const byte RTN_BLACKHOLE = 6;
    public const byte RTN_UNREACHABLE = 7;
    public const byte RTN_PROHIBIT = 8;

    public const uint RTNH_F_DEAD = 1;
    public const uint RTNH_F_PERVASIVE = 2;
    public const uint RTNH_F_ONLINK = 4;
    public const uint RTNH_F_LINKDOWN = 16;

    public const ushort RTA_UNSPEC = 0;
    public const ushort RTA_DST = 1;
    public const ushort RTA_SRC = 2;
    public const ushort RTA_IIF = 3;
    public const ushort RTA_OIF = 4;
    public const ushort RTA_GATEWAY = 5;
    public const ushort RTA_PRIORITY = 6;
    public const ushort RTA_PREFSRC = 7;
    public const ushort RTA_METRICS = 8;
    public const ushort RTA_MULTIPATH = 9;
    public const ushort RTA_TABLE = 15;
}

/// <summary>if_link.h / if.h: link attributes, kinds, flags.</summary>
public static class Ifla
{
    public const ushort IFLA_UNSPEC = 0;
    public const ushort IFLA_ADDRESS = 1;
    public const ushort IFLA_BROADCAST = 2;
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_MTU = 4;
    public const ushort IFLA_LINK = 5;
    public const ushort IFLA_QDISC = 6;
    public const ushort IFLA_STATS = 7;
    public const ushort IFLA_MASTER = 10;
    public const ushort IFLA_TXQLEN = 13;
    public const ushort IFLA_OPERSTATE = 16;
    public const ushort IFLA_LINKMODE = 17;
    public const ushort IFLA_LINKINFO = 18;
    public const ushort IFLA_NET_NS_PID = 19;
    public const ushort IFLA_IFALIAS = 20;
    public const ushort IFLA_AF_SPEC = 26;
    public const ushort IFLA_GROUP = 27;
    public const ushort IFLA_NET_NS_FD = 28;
    public const ushort IFLA_EXT_MASK = 29;
    public const ushort IFLA_PROMISCUITY = 30;
    public const ushort IFLA_NUM_TX_QUEUES = 31;
    public const ushort IFLA_NUM_RX_QUEUES = 32;
    public const ushort IFLA_CARRIER = 33;
    public const ushort IFLA_LINK_NETNSID = 37;

    public const ushort IFLA_INFO_KIND = 1;
    public const ushort IFLA_INFO_DATA = 2;
    public const ushort IFLA_INFO_XSTATS = 3;
    public const ushort IFLA_INFO_SLAVE_KIND = 4;
    public const ushort IFLA_INFO_SLAVE_DATA = 5;

    /// <summary>veth.h: the peer's ifinfomsg + attributes, nested in IFLA_INFO_DATA.</summary>
    public const ushort VETH_INFO_PEER = 1;

    /// <summary>In IFLA_AF_SPEC → AF_INET: the device's IPv4 options, one u32 attribute per IPV4_DEVCONF_* key.</summary>
    public const ushort IFLA_INET_CONF = 1;

    /// <summary>In IFLA_AF_SPEC → AF_INET6: how link-local addresses are made (u8, IN6_ADDR_GEN_MODE_*).</summary>
    public const ushort IFLA_INET6_ADDR_GEN_MODE = 8;

    public const byte IN6_ADDR_GEN_MODE_EUI64 = 0;
    /// <summary>No automatic IPv6 addresses (no link-local, hence no DAD, router solicitation or MLD traffic).</summary>
    public const byte IN6_ADDR_GEN_MODE_NONE = 1;

    /// <summary>ip.h IPV4_DEVCONF_*: net.ipv4.conf.DEV.forwarding …, the attribute types inside IFLA_INET_CONF (1-based).</summary>
    public const ushort IPV4_DEVCONF_FORWARDING = 1;
    public const ushort IPV4_DEVCONF_ACCEPT_REDIRECTS = 4;
    public const ushort IPV4_DEVCONF_SEND_REDIRECTS = 6;
    public const ushort IPV4_DEVCONF_RP_FILTER = 8;
    public const ushort IPV4_DEVCONF_ACCEPT_SOURCE_ROUTE = 9;
    public const ushort IPV4_DEVCONF_LOG_MARTIANS = 11;

    public const ushort IFLA_VXLAN_ID = 1;
    public const ushort IFLA_VXLAN_GROUP = 2;
    public const ushort IFLA_VXLAN_LINK = 3;
    public const ushort IFLA_VXLAN_LOCAL = 4;
    public const ushort IFLA_VXLAN_TTL = 5;
    public const ushort IFLA_VXLAN_TOS = 6;
    public const ushort IFLA_VXLAN_LEARNING = 7;
    public const ushort IFLA_VXLAN_AGEING = 8;
    public const ushort IFLA_VXLAN_LIMIT = 9;
    public const ushort IFLA_VXLAN_PORT_RANGE = 10;
    public const ushort IFLA_VXLAN_PROXY = 11;
    public const ushort IFLA_VXLAN_RSC = 12;
    public const ushort IFLA_VXLAN_L2MISS = 13;
    public const ushort IFLA_VXLAN_L3MISS = 14;
    public const ushort IFLA_VXLAN_PORT = 15;
    public const ushort IFLA_VXLAN_GROUP6 = 16;
    public const ushort IFLA_VXLAN_LOCAL6 = 17;
    public const ushort IFLA_VXLAN_UDP_CSUM = 18;
    public const ushort IFLA_VXLAN_GBP = 23;

    /// <summary>if.h net_device_flags.</summary>
    public const uint IFF_UP = 0x1;
    public const uint IFF_BROADCAST = 0x2;
    public const uint IFF_LOOPBACK = 0x8;
    public const uint IFF_POINTOPOINT = 0x10;
    public const uint IFF_RUNNING = 0x40;
    public const uint IFF_NOARP = 0x80;
    public const uint IFF_MULTICAST = 0x1000;
    public const uint IFF_LOWER_UP = 0x10000;

    /// <summary>if_arp.h device types.</summary>
    public const ushort ARPHRD_ETHER = 1;
    public const ushort ARPHRD_LOOPBACK = 772;
    public const ushort ARPHRD_NONE = 0xFFFE;
}

/// <summary>if_addr.h.</summary>
public static class Ifa
{
    public const ushort IFA_ADDRESS = 1;
    public const ushort IFA_LOCAL = 2;
    public const ushort IFA_LABEL = 3;
    public const ushort IFA_BROADCAST = 4;
    public const ushort IFA_ANYCAST = 5;
    public const ushort IFA_CACHEINFO = 6;
    public const ushort IFA_MULTICAST = 7;
    public const ushort IFA_FLAGS = 8;

    public const uint IFA_F_SECONDARY = 0x01;
    public const uint IFA_F_NODAD = 0x02;
    public const uint IFA_F_PERMANENT = 0x80;
    public const uint IFA_F_NOPREFIXROUTE = 0x200;
}

/// <summary>neighbour.h.</summary>
public static class Nda
{
    public const ushort NDA_DST = 1;
    public const ushort NDA_LLADDR = 2;
    public const ushort NDA_CACHEINFO = 3;
    public const ushort NDA_PROBES = 4;
    public const ushort NDA_VLAN = 5;
    public const ushort NDA_PORT = 6;
    public const ushort NDA_VNI = 7;
    public const ushort NDA_IFINDEX = 8;
    public const ushort NDA_MASTER = 9;

    public const byte NTF_USE = 0x01;
    public const byte NTF_SELF = 0x02;
    public const byte NTF_MASTER = 0x04;
    public const byte NTF_PROXY = 0x08;
    public const byte NTF_EXT_LEARNED = 0x10;
    public const byte NTF_OFFLOADED = 0x20;
    public const byte NTF_STICKY = 0x40;
    public const byte NTF_ROUTER = 0x80;

    public const ushort NUD_NONE = 0x00;
    public const ushort NUD_INCOMPLETE = 0x01;
    public const ushort NUD_REACHABLE = 0x02;
    public const ushort NUD_STALE = 0x04;
    public const ushort NUD_DELAY = 0x08;
    public const ushort NUD_PROBE = 0x10;
    public const ushort NUD_FAILED = 0x20;
    public const ushort NUD_NOARP = 0x40;
    public const ushort NUD_PERMANENT = 0x80;
}
