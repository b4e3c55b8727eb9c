using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Weft.Linux;

namespace Weft.Cni;

/// <summary>
/// The attachment over Weft.Linux, the way Silk builds it (cf-networking.md §4.3):
/// <list type="bullet">
/// <item>a veth pair created in the host namespace: host end <c>w-&lt;ip&gt;</c> with MAC <c>aa:aa:&lt;ip&gt;</c>; the peer is
/// created directly inside the container namespace with its final name (CNI_IFNAME) and MAC <c>ee:ee:&lt;ip&gt;</c>; both with the MTU;</item>
/// <item>container side: <c>IP/32 peer 169.254.0.1</c>, link up, permanent neighbour 169.254.0.1 → host MAC,
/// <c>default via 169.254.0.1 onlink src IP</c>;</item>
/// <item>host side: <c>169.254.0.1/32 peer IP/32</c> (which gives the /32 route to the container), link up,
/// permanent neighbour IP → container MAC;</item>
/// <item>options, before each end goes up: <c>rp_filter=1</c> and IPv6 address generation <c>none</c> (no link-local address,
/// so no IPv6 traffic) on both ends, set over rtnetlink (RTM_SETLINK with IFLA_AF_SPEC); on the host end also
/// <c>disable_ipv6=1</c> (/proc/sys: it has no netlink setter), and <c>net.ipv4.ip_forward=1</c> in the host namespace.</item>
/// </list>
/// Deleting the host end removes everything (the peer, its addresses, routes and neighbours go with it).
/// </summary>
public sealed class LinuxAttachmentDriver : IAttachmentDriver
{
    private readonly NetNs? _host;

    /// <param name="host">The host namespace; null = the namespace the plugin runs in (the normal case).</param>
    public LinuxAttachmentDriver(NetNs? host = null) => _host = host;

    public void EnsureNetns(string netns)
    {
        using var ns = OpenNetns(netns);
    }

    public void Attach(AttachmentSpec spec, bool replace, Action<string> step)
    {
        using var cns = OpenNetns(spec.Netns);
        using var host = OpenNetlink(_host);
        var hostVeth = spec.HostVeth;
        var hostMac = new PhysicalAddress(Naming.HostMac(spec.Ip));
        var containerMac = new PhysicalAddress(Naming.ContainerMac(spec.Ip));
        if (replace)
        {
            TryDel(host, hostVeth);
        }

        step("veth");
        Link? created;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    created = host.LinkAddVethEcho(hostVeth, spec.IfName, cns, spec.Mtu, hostMac, containerMac, queues: 1);
                    break;
                }
                catch (KernelException e) when (e.Errno == Errno.EEXIST && attempt < 3 && InTheWay(host, cns, hostVeth, spec.IfName))
                {
                    // A leftover was in the way (see RemoveLeftover): try again.
                }
            }
        }
        catch (KernelException e) when (e.Errno == Errno.EEXIST)
        {
            throw host.TryLinkByName(hostVeth) is not null
                ? new CniException(CniErrorCode.InterfaceExists, $"host link {hostVeth} already exists",
                    $"a link named after {spec.Ip} exists in the host namespace but the IPAM store does not know it; delete it (ip link del {hostVeth}) or run GC", e)
                : new CniException(CniErrorCode.InterfaceExists, $"interface {spec.IfName} already exists in {spec.Netns}", e.Message, e);
        }

        CniTrace.Mark("veth created");
        try
        {
            var ip = ToAddress(spec.Ip);
            var gateway = ToAddress(Naming.HostSideIp);

            // The kernel's echo of the creation names both ends' indexes (the host end's IFLA_LINK is its peer's
            // index in the container's namespace); without an echo (Linux < 6.3), one RTM_GETLINK does.
            var hostLink = created is { ParentIndex: not null } ? created : host.LinkByName(hostVeth);
            var h = hostLink.Index;

            // The host end drops IPv6 before anything can reach it (see SetHostSysctls).
            using (_host?.Enter())
            {
                SetHostSysctls(hostVeth);
            }

            CniTrace.Mark("host sysctls");
            step("container");
            // Everything in the container goes over one rtnetlink socket opened inside its namespace, in one
            // datagram: the options (rp_filter on, no IPv6 address) before the link is up, then address, up,
            // neighbour, default route. No /proc, no extra thread, one round trip.
            using (var c = OpenNetlink(cns))
            {
                CniTrace.Mark("container socket");
                var index = hostLink.ParentIndex ?? c.LinkByName(spec.IfName).Index;
                var w = NetlinkWriter.Pooled(512);
                try
                {
                    LinkMessages.WriteSetAfSpec(ref w, index, DeviceOptions, Ifla.IN6_ADDR_GEN_MODE_NONE);
                    AddrMessages.Write(ref w, Rtm.RTM_NEWADDR, CreateExcl, new Address(index, new IpPrefix(ip, 32)) { Peer = gateway });
                    WriteUp(ref w, index);
                    NeighMessages.WriteNeighbor(ref w, Rtm.RTM_NEWNEIGH, CreateReplace, new Neighbor(index, gateway, hostMac));
                    RouteMessages.Write(ref w, Rtm.RTM_NEWROUTE, CreateExcl, new Route { Gateway = gateway, Device = index, Src = ip, OnLink = true, Family = AddressFamily.InterNetwork });
                    c.Socket.RequestEach(w.Written, i => ContainerOperations[i].Replace("IP", spec.Ip.ToString(), StringComparison.Ordinal) + $" ({spec.IfName} in {spec.Netns})");
                }
                finally
                {
                    w.Dispose();
                }
            }

            CniTrace.Mark("container configured");
            step("host");
            var hw = NetlinkWriter.Pooled(512);
            try
            {
                LinkMessages.WriteSetAfSpec(ref hw, h, DeviceOptions, Ifla.IN6_ADDR_GEN_MODE_NONE);
                AddrMessages.Write(ref hw, Rtm.RTM_NEWADDR, CreateExcl, new Address(h, new IpPrefix(gateway, 32)) { Peer = ip });
                WriteUp(ref hw, h);
                NeighMessages.WriteNeighbor(ref hw, Rtm.RTM_NEWNEIGH, CreateReplace, new Neighbor(h, ip, containerMac));
                host.Socket.RequestEach(hw.Written, i => HostOperations[i].Replace("IP", spec.Ip.ToString(), StringComparison.Ordinal) + $" (dev {hostVeth})");
            }
            finally
            {
                hw.Dispose();
            }
        }
        catch
        {
            TryDel(host, hostVeth);
            throw;
        }
    }

    /// <summary>Test hook: runs when a veth creation met EEXIST, before what is in the way is looked at.</summary>
    internal Action? BeforeLeftoverCheck { get; init; }

    private bool InTheWay(Netlink host, NetNs cns, string hostVeth, string ifName)
    {
        BeforeLeftoverCheck?.Invoke();
        return RemoveLeftover(host, cns, hostVeth, ifName);
    }

    /// <summary>
    /// Deletes a veth pair that a DEL disconnected and left for its background deletion (or a crash left), when it is
    /// in the way of this ADD: the host end named after this ADD's address (this ADD holds the address, so weft's veth
    /// for it is the previous holder's), or the container interface <paramref name="ifName"/> when it is weft's
    /// container end (MAC <c>ee:ee:&lt;ip&gt;</c>) whose host end is weft's veth without its address — what a DEL
    /// leaves when the runtime runs ADD again for the same container right after DEL. True (try again) if it deleted one or
    /// found that it vanished meanwhile (the background deletion finished between the kernel's EEXIST and this look).
    /// </summary>
    private static bool RemoveLeftover(Netlink host, NetNs cns, string hostVeth, string ifName)
    {
        if (host.TryLinkByName(hostVeth) is { } old && IsWeftVeth(old))
        {
            TryDel(host, old.Index);
            return true;
        }

        using var c = OpenNetlink(cns);
        var existing = c.TryLinkByName(ifName);
        if (existing is null)
        {
            // Gone since the kernel said EEXIST: a DEL's background deletion finished in between. Try again.
            return true;
        }

        if (existing is not { Kind: "veth", ParentIndex: int peer, Mac: { } mac } link)
        {
            return false;
        }

        Link hostEnd;
        try
        {
            hostEnd = host.LinkByIndex(peer);
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
            // The pair was deleted in between (a DEL's background deletion): try again.
            return true;
        }

        if (!IsWeftVeth(hostEnd) || hostEnd.ParentIndex != link.Index
            || !mac.GetAddressBytes().AsSpan().SequenceEqual(Naming.ContainerMac(IpOf(hostEnd.Name)!.Value))
            || host.AddrList(hostEnd.Index, AddressFamily.InterNetwork).Count != 0)
        {
            return false;
        }

        TryDel(host, hostEnd.Index);
        return true;
    }

    private const ushort CreateExcl = Nl.NLM_F_CREATE | Nl.NLM_F_EXCL;
    private const ushort CreateReplace = Nl.NLM_F_CREATE | Nl.NLM_F_REPLACE;

    /// <summary>What each message of the container's batch does, for an error (code 103; IP is replaced by the address).</summary>
    private static readonly string[] ContainerOperations =
        ["ip link set addrgenmode none, rp_filter 1", "ip addr add IP/32 peer 169.254.0.1", "ip link set up", "ip neigh replace 169.254.0.1", "ip route add default via 169.254.0.1 onlink"];

    /// <summary>What each message of the host's batch does, for an error (code 103; IP is replaced by the address).</summary>
    private static readonly string[] HostOperations =
        ["ip link set addrgenmode none, rp_filter 1", "ip addr add 169.254.0.1/32 peer IP/32", "ip link set up", "ip neigh replace IP"];

    /// <summary>RTM_NEWLINK setting IFF_UP (ip link set up).</summary>
    private static void WriteUp(ref NetlinkWriter w, int index)
    {
        LinkMessages.WriteLinkHeader(ref w, Rtm.RTM_NEWLINK, 0, index, null, Ifla.IFF_UP, Ifla.IFF_UP);
        w.EndMessage();
    }

    /// <summary>IPv4 options of both veth ends: strict reverse-path filtering.</summary>
    private static readonly (ushort Key, uint Value)[] DeviceOptions = [(Ifla.IPV4_DEVCONF_RP_FILTER, 1)];

    /// <summary>
    /// A handle on <paramref name="ns"/> (null: this thread's namespace). The socket is created by this thread after
    /// a brief <see cref="NetNs.Enter"/>: weft-cni is single-threaded, and a helper thread would cost a thread start and
    /// two scheduler hand-offs, which on a loaded machine are most of an ADD.
    /// </summary>
    private static Netlink OpenNetlink(NetNs? ns)
    {
        if (ns is null)
        {
            return Netlink.Open();
        }

        using (ns.Enter())
        {
            return Netlink.Open();
        }
    }

    /// <summary>
    /// When set, <see cref="Detach"/> does not wait for the kernel to delete the veth pair (tens of milliseconds:
    /// unregistering a netdevice waits for RCU grace periods). It removes the host end's address
    /// (<c>169.254.0.1 peer IP</c>) — which removes the /32 route, so nothing reaches the container any more and
    /// rp_filter drops what it sends — and calls this with the link's index to have the pair deleted in the
    /// background (false: it could not, the link is deleted now). Until then the link keeps its name; an ADD
    /// that gets the address again and finds weft's veth for it deletes it first. The executable passes one that
    /// collects the indexes and, once its answer is written and its stdio let go, starts a detached weft-cni
    /// (<see cref="Detached"/>) for each; null (the default) deletes synchronously.
    /// </summary>
    public Func<int, bool>? BackgroundReaper { get; init; }

    public void Detach(string hostVeth, string? netns, string ifName)
    {
        using var host = OpenNetlink(_host);
        if (BackgroundReaper is null || IpOf(hostVeth) is not { } ip)
        {
            TryDel(host, hostVeth);
            return;
        }

        try
        {
            var link = host.LinkByName(hostVeth);
            CniTrace.Mark("del: link found");
            try
            {
                // Netlink.AddrDel would format its operation's name (addresses) before asking; this names it only on failure.
                var w = NetlinkWriter.Pooled(128);
                try
                {
                    AddrMessages.Write(ref w, Rtm.RTM_DELADDR, 0, new Address(link.Index, new IpPrefix(ToAddress(Naming.HostSideIp), 32)) { Peer = ToAddress(ip) });
                    host.Socket.RequestEach(w.Written, _ => $"ip addr del 169.254.0.1/32 peer {ip}/32 dev {hostVeth}");
                }
                finally
                {
                    w.Dispose();
                }
            }
            catch (KernelException e) when (e.Errno is Errno.EADDRNOTAVAIL or Errno.ENOENT or Errno.ESRCH)
            {
            }

            CniTrace.Mark("del: address removed");
            if (!BackgroundReaper(link.Index))
            {
                TryDel(host, link.Index);
            }
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
            // already gone (its namespace was deleted, or an earlier DEL)
        }
    }

    /// <summary>A veth weft made for an address: named <c>w-&lt;ip&gt;</c> with weft's host MAC for that address (<c>aa:aa:&lt;ip&gt;</c>).</summary>
    public static bool IsWeftVeth(Link link) =>
        IpOf(link.Name) is { } ip && link.Mac is { } mac && mac.GetAddressBytes().AsSpan().SequenceEqual(Naming.HostMac(ip));

    /// <summary>The address a host veth name stands for (<c>w-010255012002</c> → 10.255.12.2), or null.</summary>
    public static Ipv4? IpOf(string hostVeth)
    {
        var d = hostVeth.AsSpan();
        if (d.Length != 14 || !d.StartsWith("w-"))
        {
            return null;
        }

        d = d[2..];
        uint v = 0;
        for (var i = 0; i < 4; i++)
        {
            if (!uint.TryParse(d.Slice(i * 3, 3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var octet) || octet > 255)
            {
                return null;
            }

            v = (v << 8) | octet;
        }

        return new Ipv4(v);
    }

    /// <summary>
    /// The background half of a DEL: deletes link <paramref name="index"/> if it is still weft's veth without its
    /// host address (a new attachment for the same address is a new link with another index).
    /// </summary>
    public void DeleteDetached(int index)
    {
        using var host = OpenNetlink(_host);
        try
        {
            var link = host.LinkByIndex(index);
            if (IsWeftVeth(link) && host.AddrList(index, AddressFamily.InterNetwork).Count == 0)
            {
                TryDel(host, index);
            }
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
        }
    }

    /// <summary>Deletes weft's veths whose address <paramref name="allocated"/> says is free (GC); returns how many.</summary>
    public int Reap(Func<Ipv4, bool> allocated)
    {
        using var host = OpenNetlink(_host);
        var n = 0;
        foreach (var link in host.LinkList())
        {
            if (IsWeftVeth(link) && !allocated(IpOf(link.Name)!.Value))
            {
                TryDel(host, link.Index);
                n++;
            }
        }

        return n;
    }

    public void Check(AttachmentSpec spec)
    {
        using var cns = OpenNetns(spec.Netns);
        using var host = OpenNetlink(_host);
        var ip = ToAddress(spec.Ip);
        var gateway = ToAddress(Naming.HostSideIp);

        var h = host.TryLinkByName(spec.HostVeth) ?? throw Drift($"host link {spec.HostVeth} is missing");
        CheckLink(h, "veth", spec.Mtu, Naming.HostMac(spec.Ip));
        if (!host.AddrList(h.Index, AddressFamily.InterNetwork).Exists(a => a.Prefix.Address.Equals(gateway) && a.Prefix.Length == 32 && ip.Equals(a.Peer)))
        {
            throw Drift($"{spec.HostVeth} lacks 169.254.0.1/32 peer {spec.Ip}/32");
        }

        if (!host.RouteList().Exists(r => r.Device == h.Index && r.Dst is { } d && d.Length == 32 && d.Address.Equals(ip)))
        {
            throw Drift($"the host has no route to {spec.Ip}/32 via {spec.HostVeth}");
        }

        using var c = OpenNetlink(cns);
        var link = c.TryLinkByName(spec.IfName) ?? throw Drift($"interface {spec.IfName} is missing in {spec.Netns}");
        CheckLink(link, "veth", spec.Mtu, Naming.ContainerMac(spec.Ip));
        var addrs = c.AddrList(link.Index, AddressFamily.InterNetwork);
        if (!addrs.Exists(a => a.Prefix.Address.Equals(ip) && a.Prefix.Length == 32 && gateway.Equals(a.Peer)))
        {
            throw Drift($"{spec.IfName} lacks {spec.Ip}/32 peer 169.254.0.1");
        }

        if (addrs.Count != 1)
        {
            throw Drift($"{spec.IfName} has {addrs.Count} IPv4 addresses, expected only {spec.Ip}/32");
        }

        if (!c.RouteList().Exists(r => r.Dst is null && gateway.Equals(r.Gateway) && r.Device == link.Index))
        {
            throw Drift($"{spec.Netns} has no default route via 169.254.0.1 dev {spec.IfName}");
        }
    }

    private static void CheckLink(Link link, string kind, int mtu, byte[] mac)
    {
        if (link.Kind != kind)
        {
            throw Drift($"{link.Name} is a {link.Kind ?? "device"}, not a {kind}");
        }

        if (!link.IsUp)
        {
            throw Drift($"{link.Name} is down");
        }

        if (link.Mtu != mtu)
        {
            throw Drift($"{link.Name} has MTU {link.Mtu}, expected {mtu}");
        }

        if (link.Mac is null || !link.Mac.GetAddressBytes().AsSpan().SequenceEqual(mac))
        {
            throw Drift($"{link.Name} has MAC {link.Mac}, expected {Naming.FormatMac(mac)}");
        }
    }

    private static CniException Drift(string message) => new(CniErrorCode.CheckFailed, message);

    private static NetNs OpenNetns(string path)
    {
        NetNs ns;
        try
        {
            ns = NetNs.OpenByPath(path);
        }
        catch (KernelException e)
        {
            throw new CniException(CniErrorCode.UnknownContainer, $"network namespace {path} does not exist", e.Message, e);
        }

        if (!IsNetns(path))
        {
            ns.Dispose();
            throw new CniException(CniErrorCode.UnknownContainer, $"{path} is not a network namespace");
        }

        return ns;
    }

    /// <summary>A network namespace file is an nsfs inode (a bind mount of /proc/PID/ns/net); a plain file is not.</summary>
    private static unsafe bool IsNetns(string path)
    {
        const long NSFS_MAGIC = 0x6e736673;
        var buf = stackalloc long[32]; // struct statfs (120 bytes on x86_64); f_type comes first
        return Native.statfs(path, buf) == 0 && buf[0] == NSFS_MAGIC;
    }

    /// <summary>
    /// The host end drops IPv6 altogether (<c>disable_ipv6</c>, which has no netlink setter): with IPv6 forwarding on
    /// in the host, a container could otherwise send IPv6 packets through it (addrgenmode none only stops addresses).
    /// And the host forwards IPv4.
    /// </summary>
    private static void SetHostSysctls(string hostVeth)
    {
        TrySysctl($"net/ipv6/conf/{hostVeth}/disable_ipv6", "1"); // absent when IPv6 is off altogether
        if (Sysctl.Read(null, "net/ipv4/ip_forward") != "1")
        {
            Sysctl.Write(null, "net/ipv4/ip_forward", "1");
        }
    }

    private static void TrySysctl(string key, string value)
    {
        try
        {
            Sysctl.Write(null, key, value);
        }
        catch (KernelException e) when (e.Errno == Errno.ENOENT)
        {
        }
    }

    private static void TryDel(Netlink nl, string name)
    {
        try
        {
            nl.LinkDel(name);
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
        }
    }

    private static void TryDel(Netlink nl, int index)
    {
        try
        {
            nl.LinkDel(index);
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
        }
    }

    private static IPAddress ToAddress(Ipv4 ip) => new(ip.ToBytes());
}
