using System.Net;
using System.Net.NetworkInformation;

namespace Weft.Linux;

public sealed partial class Netlink
{
    /// <summary>All links in the namespace.</summary>
    /// <remarks>Equivalent to: ip link show</remarks>
    public List<Link> LinkList()
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            LinkMessages.WriteGet(ref w, 0, null, dump: true);
            return Socket.Dump<Link>(w.Written, LinkMessages.Parse, "ip link show");
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>The link called <paramref name="name"/>; throws with ENODEV when there is none.</summary>
    /// <remarks>Equivalent to: ip link show dev NAME</remarks>
    public Link LinkByName(string name) => GetLink(0, name, $"ip link show dev {name}");

    /// <summary>The link with index <paramref name="index"/>; throws with ENODEV when there is none.</summary>
    /// <remarks>Equivalent to: ip link show (filtered on ifindex)</remarks>
    public Link LinkByIndex(int index) => GetLink(index, null, $"ip link show (index {index})");

    /// <summary>The link called <paramref name="name"/>, or null when there is none.</summary>
    public Link? TryLinkByName(string name)
    {
        try
        {
            return LinkByName(name);
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENODEV)
        {
            return null;
        }
    }

    private Link GetLink(int index, string? name, string op)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            LinkMessages.WriteGet(ref w, index, name, dump: false);
            var list = Socket.Request<Link>(w.Written, LinkMessages.Parse, op);
            return list.Count > 0 ? list[0] : throw new NetlinkException(Errno.ENODEV, op);
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>
    /// Creates a veth pair. The peer is created directly in <paramref name="peerNamespace"/> when given
    /// (IFLA_NET_NS_FD in the peer's attributes), otherwise next to the first end.
    /// </summary>
    /// <remarks>Equivalent to: ip link add NAME [mtu M] [address MAC] type veth peer name PEER [netns NS] [address PEERMAC]</remarks>
    public void LinkAddVeth(string name, string peerName, NetNs? peerNamespace = null, int? mtu = null,
        PhysicalAddress? mac = null, PhysicalAddress? peerMac = null) =>
        AddVeth(name, peerName, peerNamespace, mtu, mac, peerMac, null, echo: false);

    /// <summary>
    /// As <see cref="LinkAddVeth"/>, and returns the new link (this end) as the kernel reports it with NLM_F_ECHO
    /// (Linux 6.3+; null on kernels that do not echo): its index, and its peer's index in
    /// <see cref="Link.ParentIndex"/>, without an RTM_GETLINK in either namespace. <paramref name="queues"/> sets
    /// both ends' TX and RX queue counts (the kernel's default is one per CPU).
    /// </summary>
    public Link? LinkAddVethEcho(string name, string peerName, NetNs? peerNamespace = null, int? mtu = null,
        PhysicalAddress? mac = null, PhysicalAddress? peerMac = null, int? queues = null) =>
        AddVeth(name, peerName, peerNamespace, mtu, mac, peerMac, queues, echo: true);

    private Link? AddVeth(string name, string peerName, NetNs? peerNamespace, int? mtu, PhysicalAddress? mac, PhysicalAddress? peerMac, int? queues, bool echo)
    {
        var w = NetlinkWriter.Pooled(256);
        using var peerFd = peerNamespace?.Hold();
        try
        {
            LinkMessages.WriteAddVeth(ref w, name, peerName, peerFd?.Fd, mtu, mac, peerMac, queues, echo);
            var operation = $"ip link add {name} type veth peer name {peerName}" + (peerNamespace is null ? "" : $" netns {peerNamespace}");
            if (!echo)
            {
                Socket.Request(w.Written, operation);
                return null;
            }

            return Socket.Request<Link>(w.Written, LinkMessages.Parse, operation).Find(l => l.Name == name);
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Creates a bridge.</summary>
    /// <remarks>Equivalent to: ip link add NAME [mtu M] [address MAC] type bridge</remarks>
    public void LinkAddBridge(string name, int? mtu = null, PhysicalAddress? mac = null)
    {
        var w = NetlinkWriter.Pooled(128);
        try
        {
            LinkMessages.WriteAddSimple(ref w, name, "bridge", mtu, mac);
            Socket.Request(w.Written, $"ip link add {name} type bridge");
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Creates a VXLAN device.</summary>
    /// <remarks>Equivalent to: ip link add NAME [mtu M] [address MAC] type vxlan id ID [local IP] [dev UNDERLAY] dstport PORT [nolearning] [gbp]</remarks>
    public void LinkAddVxlan(VxlanSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var w = NetlinkWriter.Pooled(256);
        try
        {
            LinkMessages.WriteAddVxlan(ref w, spec);
            Socket.Request(w.Written, $"ip link add {spec.Name} type vxlan id {spec.Id}");
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Brings a link up.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME up</remarks>
    public void LinkSetUp(string name) => SetLink(0, name, Ifla.IFF_UP, Ifla.IFF_UP, null, $"ip link set dev {name} up");

    /// <inheritdoc cref="LinkSetUp(string)"/>
    public void LinkSetUp(int index) => SetLink(index, null, Ifla.IFF_UP, Ifla.IFF_UP, null, $"ip link set (index {index}) up");

    /// <summary>Takes a link down.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME down</remarks>
    public void LinkSetDown(string name) => SetLink(0, name, 0, Ifla.IFF_UP, null, $"ip link set dev {name} down");

    /// <inheritdoc cref="LinkSetDown(string)"/>
    public void LinkSetDown(int index) => SetLink(index, null, 0, Ifla.IFF_UP, null, $"ip link set (index {index}) down");

    /// <summary>Sets the MTU.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME mtu MTU</remarks>
    public void LinkSetMtu(string name, int mtu) =>
        SetLink(0, name, 0, 0, (ref NetlinkWriter w) => w.AttrU32(Ifla.IFLA_MTU, (uint)mtu), $"ip link set dev {name} mtu {mtu}");

    /// <summary>Sets the hardware address.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME address MAC</remarks>
    public void LinkSetMac(string name, PhysicalAddress mac) =>
        SetLink(0, name, 0, 0, (ref NetlinkWriter w) => w.AttrMac(Ifla.IFLA_ADDRESS, mac), $"ip link set dev {name} address {Format.Mac(mac)}");

    /// <summary>
    /// Sets per-device protocol options in one RTM_SETLINK (IFLA_AF_SPEC), without /proc and without entering the
    /// link's namespace: IPv4 options by IPV4_DEVCONF_* key (<c>net.ipv4.conf.DEV.*</c>, e.g.
    /// <see cref="Ifla.IPV4_DEVCONF_RP_FILTER"/>), and the IPv6 address generation mode
    /// (<see cref="Ifla.IN6_ADDR_GEN_MODE_NONE"/>: no link-local address). The kernel refuses IFLA_AF_SPEC when a
    /// link is created (EAFNOSUPPORT), so this is a request of its own, made before the link goes up.
    /// </summary>
    /// <remarks>Equivalent to: sysctl -w net.ipv4.conf.DEV.KEY=VALUE …; ip link set dev DEV addrgenmode none</remarks>
    public void LinkSetAfSpec(int index, scoped ReadOnlySpan<(ushort Key, uint Value)> ipv4Conf, byte? ipv6AddrGenMode = null)
    {
        var w = NetlinkWriter.Pooled(128);
        try
        {
            LinkMessages.WriteSetAfSpec(ref w, index, ipv4Conf, ipv6AddrGenMode);
            Socket.Request(w.Written, $"ip link set (index {index}) af-spec");
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Enslaves the link to a bridge (<paramref name="masterIndex"/> 0 releases it).</summary>
    /// <remarks>Equivalent to: ip link set dev NAME master BRIDGE  (0: ip link set dev NAME nomaster)</remarks>
    public void LinkSetMaster(string name, int masterIndex) =>
        SetLink(0, name, 0, 0, (ref NetlinkWriter w) => w.AttrU32(Ifla.IFLA_MASTER, (uint)masterIndex), $"ip link set dev {name} master (index {masterIndex})");

    /// <summary>Enslaves the link to the bridge called <paramref name="master"/>.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME master BRIDGE</remarks>
    public void LinkSetMaster(string name, string master) => LinkSetMaster(name, LinkByName(master).Index);

    /// <summary>Removes the link from its bridge.</summary>
    /// <remarks>Equivalent to: ip link set dev NAME nomaster</remarks>
    public void LinkSetNoMaster(string name) => LinkSetMaster(name, 0);

    /// <summary>Moves the link into another namespace (it disappears from this one).</summary>
    /// <remarks>Equivalent to: ip link set dev NAME netns NS</remarks>
    public void LinkSetNamespace(string name, NetNs ns)
    {
        using var held = ns.Hold();
        int fd = held.Fd;
        SetLink(0, name, 0, 0, (ref NetlinkWriter w) => w.AttrU32(Ifla.IFLA_NET_NS_FD, (uint)fd), $"ip link set dev {name} netns {ns}");
    }

    /// <summary>Renames a link (it must be down).</summary>
    /// <remarks>Equivalent to: ip link set dev NAME name NEWNAME</remarks>
    public void LinkSetName(string name, string newName)
    {
        int index = LinkByName(name).Index;
        SetLink(index, null, 0, 0, (ref NetlinkWriter w) => w.AttrString(Ifla.IFLA_IFNAME, newName), $"ip link set dev {name} name {newName}");
    }

    /// <summary>Deletes a link (both ends for veth). Throws with ENODEV when it does not exist.</summary>
    /// <remarks>Equivalent to: ip link del dev NAME</remarks>
    public void LinkDel(string name) => DelLink(0, name, $"ip link del dev {name}");

    /// <inheritdoc cref="LinkDel(string)"/>
    public void LinkDel(int index) => DelLink(index, null, $"ip link del (index {index})");

    private void DelLink(int index, string? name, string op)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            LinkMessages.WriteLinkHeader(ref w, Rtm.RTM_DELLINK, 0, index, name, 0, 0);
            w.EndMessage();
            Socket.Request(w.Written, op);
        }
        finally
        {
            w.Dispose();
        }
    }

    private delegate void AttrWriter(ref NetlinkWriter w);

    private void SetLink(int index, string? name, uint flags, uint change, AttrWriter? attrs, string op)
    {
        var w = NetlinkWriter.Pooled(128);
        try
        {
            LinkMessages.WriteLinkHeader(ref w, Rtm.RTM_NEWLINK, 0, index, name, flags, change);
            attrs?.Invoke(ref w);
            w.EndMessage();
            Socket.Request(w.Written, op);
        }
        finally
        {
            w.Dispose();
        }
    }
}

/// <summary>Encoding and decoding of link messages (pure; unit-tested against known bytes).</summary>
public static class LinkMessages
{
    /// <summary>nlmsghdr + ifinfomsg, with IFLA_IFNAME when the link is named instead of indexed. The message is left open.</summary>
    public static void WriteLinkHeader(ref NetlinkWriter w, ushort type, ushort flags, int index, string? name, uint ifFlags, uint ifChange)
    {
        w.BeginMessage(type, flags);
        w.Write(new IfInfoMsg { Family = 0, Index = index, Flags = ifFlags, Change = ifChange });
        if (index == 0 && name is not null) w.AttrString(Ifla.IFLA_IFNAME, name);
    }

    public static void WriteGet(ref NetlinkWriter w, int index, string? name, bool dump)
    {
        WriteLinkHeader(ref w, Rtm.RTM_GETLINK, dump ? Nl.NLM_F_DUMP : (ushort)0, index, name, 0, 0);
        w.EndMessage();
    }

    /// <summary>RTM_NEWLINK for a veth pair: IFLA_INFO_DATA holds VETH_INFO_PEER = ifinfomsg + the peer's attributes.</summary>
    public static void WriteAddVeth(ref NetlinkWriter w, string name, string peerName, int? peerNsFd, int? mtu, PhysicalAddress? mac, PhysicalAddress? peerMac, int? queues = null, bool echo = false)
    {
        w.BeginMessage(Rtm.RTM_NEWLINK, (ushort)(Netlink.CreateExcl | (echo ? Nl.NLM_F_ECHO : 0)));
        w.Write(new IfInfoMsg());
        w.AttrString(Ifla.IFLA_IFNAME, name);
        if (mtu is int m) w.AttrU32(Ifla.IFLA_MTU, (uint)m);
        if (mac is not null) w.AttrMac(Ifla.IFLA_ADDRESS, mac);
        if (queues is int q)
        {
            w.AttrU32(Ifla.IFLA_NUM_TX_QUEUES, (uint)q);
            w.AttrU32(Ifla.IFLA_NUM_RX_QUEUES, (uint)q);
        }
        int info = w.BeginNested(Ifla.IFLA_LINKINFO);
        w.AttrString(Ifla.IFLA_INFO_KIND, "veth");
        int data = w.BeginNested(Ifla.IFLA_INFO_DATA);
        int peer = w.BeginNested(Ifla.VETH_INFO_PEER);
        w.Write(new IfInfoMsg());
        w.AttrString(Ifla.IFLA_IFNAME, peerName);
        if (mtu is int pm) w.AttrU32(Ifla.IFLA_MTU, (uint)pm);
        if (peerMac is not null) w.AttrMac(Ifla.IFLA_ADDRESS, peerMac);
        if (queues is int pq)
        {
            w.AttrU32(Ifla.IFLA_NUM_TX_QUEUES, (uint)pq);
            w.AttrU32(Ifla.IFLA_NUM_RX_QUEUES, (uint)pq);
        }
        if (peerNsFd is int fd) w.AttrU32(Ifla.IFLA_NET_NS_FD, (uint)fd);
        w.EndNested(peer);
        w.EndNested(data);
        w.EndNested(info);
        w.EndMessage();
    }

    /// <summary>RTM_NEWLINK (set) with IFLA_AF_SPEC: AF_INET → IFLA_INET_CONF → {key: u32}, AF_INET6 → IFLA_INET6_ADDR_GEN_MODE.</summary>
    public static void WriteSetAfSpec(ref NetlinkWriter w, int index, scoped ReadOnlySpan<(ushort Key, uint Value)> ipv4Conf, byte? ipv6AddrGenMode)
    {
        WriteLinkHeader(ref w, Rtm.RTM_NEWLINK, 0, index, null, 0, 0);
        int spec = w.BeginNested(Ifla.IFLA_AF_SPEC);
        if (!ipv4Conf.IsEmpty)
        {
            int inet = w.BeginNested(Native.Libc.AF_INET);
            int conf = w.BeginNested(Ifla.IFLA_INET_CONF);
            foreach (var (key, value) in ipv4Conf) w.AttrU32(key, value);
            w.EndNested(conf);
            w.EndNested(inet);
        }
        if (ipv6AddrGenMode is byte mode)
        {
            int inet6 = w.BeginNested(Native.Libc.AF_INET6);
            w.AttrU8(Ifla.IFLA_INET6_ADDR_GEN_MODE, mode);
            w.EndNested(inet6);
        }
        w.EndNested(spec);
        w.EndMessage();
    }

    /// <summary>RTM_NEWLINK for a kind without options (bridge).</summary>
    public static void WriteAddSimple(ref NetlinkWriter w, string name, string kind, int? mtu, PhysicalAddress? mac)
    {
        w.BeginMessage(Rtm.RTM_NEWLINK, Netlink.CreateExcl);
        w.Write(new IfInfoMsg());
        w.AttrString(Ifla.IFLA_IFNAME, name);
        if (mtu is int m) w.AttrU32(Ifla.IFLA_MTU, (uint)m);
        if (mac is not null) w.AttrMac(Ifla.IFLA_ADDRESS, mac);
        int info = w.BeginNested(Ifla.IFLA_LINKINFO);
        w.AttrString(Ifla.IFLA_INFO_KIND, kind);
        w.EndNested(info);
        w.EndMessage();
    }

    /// <summary>RTM_NEWLINK for a VXLAN device (IFLA_VXLAN_* in IFLA_INFO_DATA; the port in network byte order).</summary>
    public static void WriteAddVxlan(ref NetlinkWriter w, VxlanSpec spec)
    {
        w.BeginMessage(Rtm.RTM_NEWLINK, Netlink.CreateExcl);
        w.Write(new IfInfoMsg());
        w.AttrString(Ifla.IFLA_IFNAME, spec.Name);
        if (spec.Mtu is int m) w.AttrU32(Ifla.IFLA_MTU, (uint)m);
        if (spec.Mac is not null) w.AttrMac(Ifla.IFLA_ADDRESS, spec.Mac);
        int info = w.BeginNested(Ifla.IFLA_LINKINFO);
        w.AttrString(Ifla.IFLA_INFO_KIND, "vxlan");
        int data = w.BeginNested(Ifla.IFLA_INFO_DATA);
        w.AttrU32(Ifla.IFLA_VXLAN_ID, spec.Id);
        if (spec.Local is not null)
            w.AttrIp(spec.Local.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? Ifla.IFLA_VXLAN_LOCAL6 : Ifla.IFLA_VXLAN_LOCAL, spec.Local);
        if (spec.UnderlayDevice is int dev) w.AttrU32(Ifla.IFLA_VXLAN_LINK, (uint)dev);
        w.AttrU16BigEndian(Ifla.IFLA_VXLAN_PORT, spec.Port);
        w.AttrU8(Ifla.IFLA_VXLAN_LEARNING, spec.Learning ? (byte)1 : (byte)0);
        if (spec.Gbp) w.AttrFlag(Ifla.IFLA_VXLAN_GBP);
        w.EndNested(data);
        w.EndNested(info);
        w.EndMessage();
    }

    /// <summary>Decodes an RTM_NEWLINK message.</summary>
    public static bool Parse(in NetlinkMessage m, out Link link)
    {
        link = null!;
        if (m.Type != Rtm.RTM_NEWLINK) return false;
        var h = m.Header<IfInfoMsg>();
        string name = "";
        int mtu = 0;
        PhysicalAddress? mac = null;
        int? master = null, parent = null, netnsid = null;
        byte oper = 0;
        string? kind = null;
        VxlanInfo? vxlan = null;
        foreach (var a in m.Attributes<IfInfoMsg>())
        {
            switch (a.Type)
            {
                case Ifla.IFLA_IFNAME: name = a.String(); break;
                case Ifla.IFLA_MTU: mtu = a.I32(); break;
                case Ifla.IFLA_ADDRESS: mac = a.Mac(); break;
                case Ifla.IFLA_MASTER: master = a.I32(); break;
                case Ifla.IFLA_LINK: parent = a.I32(); break;
                case Ifla.IFLA_LINK_NETNSID: netnsid = a.I32(); break;
                case Ifla.IFLA_OPERSTATE: oper = a.U8(); break;
                case Ifla.IFLA_LINKINFO:
                    foreach (var i in a.Nested())
                    {
                        if (i.Type == Ifla.IFLA_INFO_KIND) kind = i.String();
                    }
                    if (kind == "vxlan" && a.Nested().TryFind(Ifla.IFLA_INFO_DATA, out var data)) vxlan = ParseVxlan(data.Nested());
                    break;
            }
        }
        link = new Link
        {
            Index = h.Index,
            Name = name,
            Kind = kind,
            Flags = h.Flags,
            Mtu = mtu,
            Mac = mac,
            MasterIndex = master,
            ParentIndex = parent,
            LinkNetnsId = netnsid,
            OperState = oper,
            DeviceType = h.Type,
            Vxlan = vxlan,
        };
        return true;
    }

    private static VxlanInfo ParseVxlan(NetlinkAttributes attrs)
    {
        uint id = 0;
        ushort port = 0;
        IPAddress? local = null;
        int dev = 0;
        bool learning = false, gbp = false;
        foreach (var a in attrs)
        {
            switch (a.Type)
            {
                case Ifla.IFLA_VXLAN_ID: id = a.U32(); break;
                case Ifla.IFLA_VXLAN_PORT: port = a.U16BigEndian(); break;
                case Ifla.IFLA_VXLAN_LOCAL:
                case Ifla.IFLA_VXLAN_LOCAL6: local = a.Ip(); break;
                case Ifla.IFLA_VXLAN_LINK: dev = a.I32(); break;
                case Ifla.IFLA_VXLAN_LEARNING: learning = a.U8() != 0; break;
                case Ifla.IFLA_VXLAN_GBP: gbp = true; break;
            }
        }
        return new VxlanInfo(id, port, local, dev, learning, gbp);
    }
}

internal static class Format
{
    public static string Mac(PhysicalAddress mac)
    {
        // No LINQ here: its generic virtual methods make NativeAOT executables (weft-cni) carry a type loader.
        var b = mac.GetAddressBytes();
        var s = new System.Text.StringBuilder(b.Length * 3);
        for (int i = 0; i < b.Length; i++)
        {
            if (i > 0) s.Append(':');
            s.Append(b[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return s.ToString();
    }
}
