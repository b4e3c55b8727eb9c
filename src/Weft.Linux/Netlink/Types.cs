using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Weft.Linux;

/// <summary>
/// An address with a prefix length, host bits kept ("10.255.1.0/16" as an interface address,
/// "10.255.2.0/24" as a route destination). Unlike <see cref="IPNetwork"/> it allows host bits.
/// </summary>
public readonly record struct IpPrefix(IPAddress Address, int Length)
{
    public AddressFamily Family => Address.AddressFamily;

    public int MaxLength => Family == AddressFamily.InterNetwork ? 32 : 128;

    /// <summary>"10.255.1.0/16", or a bare address meaning a host prefix (/32, /128).</summary>
    public static IpPrefix Parse(string s)
    {
        int slash = s.IndexOf('/');
        var ip = IPAddress.Parse(slash < 0 ? s : s[..slash]);
        int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int len = slash < 0 ? max : int.Parse(s[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (len < 0 || len > max) throw new FormatException($"prefix length {len} out of range in '{s}'");
        return new IpPrefix(ip, len);
    }

    /// <summary>The prefix with host bits cleared (what a route destination must be).</summary>
    public IpPrefix Network()
    {
        var b = Address.GetAddressBytes();
        for (int i = 0; i < b.Length; i++)
        {
            int bits = Math.Clamp(Length - i * 8, 0, 8);
            b[i] &= (byte)(0xFF << (8 - bits));
        }
        return new IpPrefix(new IPAddress(b), Length);
    }

    public override string ToString() => $"{Address}/{Length}";
}

/// <summary>A VXLAN device's settings as read back (IFLA_INFO_DATA of kind "vxlan").</summary>
public sealed record VxlanInfo(uint Id, ushort Port, IPAddress? Local, int UnderlayDevice, bool Learning, bool Gbp);

/// <summary>A network interface as the kernel reports it (RTM_NEWLINK).</summary>
public sealed record Link
{
    public required int Index { get; init; }
    public required string Name { get; init; }
    /// <summary>IFLA_INFO_KIND: "veth", "bridge", "vxlan", "tun"; null for loopback and kind-less devices.</summary>
    public string? Kind { get; init; }
    /// <summary>net_device_flags (IFF_UP, IFF_LOWER_UP, …).</summary>
    public uint Flags { get; init; }
    public int Mtu { get; init; }
    public PhysicalAddress? Mac { get; init; }
    /// <summary>IFLA_MASTER: the bridge this link is enslaved to.</summary>
    public int? MasterIndex { get; init; }
    /// <summary>IFLA_LINK: the peer's index for veth (in <see cref="LinkNetnsId"/> if set), the parent for others.</summary>
    public int? ParentIndex { get; init; }
    /// <summary>IFLA_LINK_NETNSID: the peer lives in another namespace.</summary>
    public int? LinkNetnsId { get; init; }
    /// <summary>IFLA_OPERSTATE (RFC 2863: 2 down, 6 up, 0 unknown).</summary>
    public byte OperState { get; init; }
    /// <summary>ARPHRD_* device type.</summary>
    public ushort DeviceType { get; init; }
    public VxlanInfo? Vxlan { get; init; }

    public bool IsUp => (Flags & Ifla.IFF_UP) != 0;
}

/// <summary>Settings of a new VXLAN device.</summary>
/// <param name="Name">Device name, e.g. "weft-vtep".</param>
/// <param name="Id">VNI.</param>
public sealed record VxlanSpec(string Name, uint Id)
{
    /// <summary>UDP destination port (IFLA_VXLAN_PORT, network byte order on the wire).</summary>
    public ushort Port { get; init; } = 4789;
    /// <summary>Local underlay address (IFLA_VXLAN_LOCAL).</summary>
    public IPAddress? Local { get; init; }
    /// <summary>Index of the underlay device (IFLA_VXLAN_LINK).</summary>
    public int? UnderlayDevice { get; init; }
    /// <summary>IFLA_VXLAN_LEARNING; Weft turns learning off.</summary>
    public bool Learning { get; init; } = true;
    /// <summary>Group Based Policy extension: the packet mark travels in the VXLAN header (IFLA_VXLAN_GBP).</summary>
    public bool Gbp { get; init; }
    public int? Mtu { get; init; }
    public PhysicalAddress? Mac { get; init; }
}

/// <summary>An interface address (RTM_NEWADDR).</summary>
/// <param name="Device">Interface index.</param>
/// <param name="Prefix">Local address and prefix length (IFA_LOCAL + ifa_prefixlen).</param>
public sealed record Address(int Device, IpPrefix Prefix)
{
    /// <summary>Point-to-point peer (IFA_ADDRESS differing from IFA_LOCAL): <c>ip addr add A peer P</c>.</summary>
    public IPAddress? Peer { get; init; }
    public byte Scope { get; init; } = Rtm.RT_SCOPE_UNIVERSE;
    public string? Label { get; init; }
    /// <summary>IFA_F_* flags (IFA_FLAGS).</summary>
    public uint Flags { get; init; }
}

/// <summary>A route (RTM_NEWROUTE). Defaults are those of <c>ip route add</c>: table main, proto boot, scope universe.</summary>
public sealed record Route
{
    /// <summary>Destination; null for the default route.</summary>
    public IpPrefix? Dst { get; init; }
    public IPAddress? Gateway { get; init; }
    /// <summary>Preferred source address (RTA_PREFSRC).</summary>
    public IPAddress? Src { get; init; }
    /// <summary>Output interface index (RTA_OIF).</summary>
    public int? Device { get; init; }
    public byte Scope { get; init; } = Rtm.RT_SCOPE_UNIVERSE;
    public uint Table { get; init; } = Rtm.RT_TABLE_MAIN;
    public byte Protocol { get; init; } = Rtm.RTPROT_BOOT;
    public byte Type { get; init; } = Rtm.RTN_UNICAST;
    /// <summary>RTNH_F_ONLINK: the gateway is on the link even if no prefix says so.</summary>
    public bool OnLink { get; init; }
    /// <summary>RTA_PRIORITY.</summary>
    public uint? Metric { get; init; }
    /// <summary>Address family when <see cref="Dst"/> is null (defaults to the gateway's, else IPv4).</summary>
    public AddressFamily? Family { get; init; }

    internal AddressFamily ResolvedFamily =>
        Family ?? Dst?.Family ?? Gateway?.AddressFamily ?? Src?.AddressFamily ?? AddressFamily.InterNetwork;
}

/// <summary>A neighbour (ARP/NDP) entry (RTM_NEWNEIGH, AF_INET/AF_INET6).</summary>
public sealed record Neighbor(int Device, IPAddress Ip, PhysicalAddress? Mac)
{
    /// <summary>NUD_* state; NUD_PERMANENT for static entries.</summary>
    public ushort State { get; init; } = Nda.NUD_PERMANENT;
    /// <summary>NTF_* flags.</summary>
    public byte Flags { get; init; }
}

/// <summary>A bridge forwarding database entry (RTM_NEWNEIGH, AF_BRIDGE), e.g. MAC → remote VTEP.</summary>
public sealed record FdbEntry(int Device, PhysicalAddress Mac)
{
    /// <summary>NDA_DST: the remote underlay address for a VXLAN device.</summary>
    public IPAddress? Dst { get; init; }
    /// <summary>NTF_* flags; NTF_SELF programs the device's own FDB (the VXLAN driver), NTF_MASTER the bridge's.</summary>
    public byte Flags { get; init; } = Nda.NTF_SELF;
    public ushort State { get; init; } = Nda.NUD_PERMANENT;
    /// <summary>NDA_VNI, when not the device's own.</summary>
    public uint? Vni { get; init; }
    /// <summary>NDA_MASTER (read back only).</summary>
    public int? Master { get; init; }
    /// <summary>NDA_VLAN.</summary>
    public ushort? Vlan { get; init; }
}
