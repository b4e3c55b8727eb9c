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
/// <item>sysctls: <c>disable_ipv6=1</c> and <c>rp_filter=1</c> on both ends, <c>net.ipv4.ip_forward=1</c> in the host namespace.</item>
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
        using var host = Netlink.Open(_host);
        var hostVeth = spec.HostVeth;
        var hostMac = new PhysicalAddress(Naming.HostMac(spec.Ip));
        var containerMac = new PhysicalAddress(Naming.ContainerMac(spec.Ip));
        if (replace)
        {
            TryDel(host, hostVeth);
        }

        step("veth");
        try
        {
            try
            {
                host.LinkAddVeth(hostVeth, spec.IfName, cns, spec.Mtu, hostMac, containerMac);
            }
            catch (KernelException e) when (e.Errno == Errno.EEXIST && host.TryLinkByName(hostVeth) is { } old && IsDetached(old))
            {
                // The previous holder of this address, disconnected by its DEL and not yet deleted in the background.
                TryDel(host, old.Index);
                host.LinkAddVeth(hostVeth, spec.IfName, cns, spec.Mtu, hostMac, containerMac);
            }
        }
        catch (KernelException e) when (e.Errno == Errno.EEXIST)
        {
            throw host.TryLinkByName(hostVeth) is not null
                ? new CniException(CniErrorCode.InterfaceExists, $"host link {hostVeth} already exists",
                    $"a link named after {spec.Ip} exists in the host namespace but the IPAM store does not know it; delete it (ip link del {hostVeth}) or run GC", e)
                : new CniException(CniErrorCode.InterfaceExists, $"interface {spec.IfName} already exists in {spec.Netns}", e.Message, e);
        }

        try
        {
            var ip = ToAddress(spec.Ip);
            var gateway = ToAddress(Naming.HostSideIp);

            step("container");
            using (var c = cns.Run(() =>
            {
                SetDeviceSysctls(spec.IfName);
                return Netlink.Open();
            }))
            {
                CniTrace.Mark("container sysctls");
                var index = c.LinkByName(spec.IfName).Index;
                c.AddrAdd(new Address(index, new IpPrefix(ip, 32)) { Peer = gateway });
                c.LinkSetUp(index);
                c.NeighReplace(new Neighbor(index, gateway, hostMac));
                c.RouteAdd(new Route { Gateway = gateway, Device = index, Src = ip, OnLink = true, Family = AddressFamily.InterNetwork });
            }

            CniTrace.Mark("container configured");
            step("host");
            if (_host is null)
            {
                SetHostSysctls(hostVeth);
            }
            else
            {
                _host.Run(() => SetHostSysctls(hostVeth));
            }

            CniTrace.Mark("host sysctls");
            var h = host.LinkByName(hostVeth).Index;
            host.AddrAdd(new Address(h, new IpPrefix(gateway, 32)) { Peer = ip });
            host.LinkSetUp(h);
            host.NeighReplace(new Neighbor(h, ip, containerMac));
        }
        catch
        {
            TryDel(host, hostVeth);
            throw;
        }
    }

    /// <summary>
    /// When set, <see cref="Detach"/> does not wait for the kernel to delete the veth pair (tens of milliseconds:
    /// unregistering a netdevice waits for RCU grace periods). It sets the host end down — which disconnects the
    /// container at once and removes the /32 route — and calls this with the link's index to have it deleted in
    /// the background (false: it could not, the link is deleted now). Until then the down link keeps its name; an
    /// ADD that needs the name and finds a down link with weft's MAC for that address deletes it first
    /// (<see cref="IsDetached"/>). The executable passes one that starts a detached weft-cni (<see cref="Detached"/>);
    /// null (the default) deletes synchronously.
    /// </summary>
    public Func<int, bool>? BackgroundReaper { get; init; }

    public void Detach(string hostVeth, string? netns, string ifName)
    {
        using var host = Netlink.Open(_host);
        if (BackgroundReaper is null)
        {
            TryDel(host, hostVeth);
            return;
        }

        try
        {
            var link = host.LinkByName(hostVeth);
            host.LinkSetDown(link.Index);
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

    /// <summary>
    /// A host veth a DEL disconnected and left for the background: named <c>w-&lt;ip&gt;</c>, down, with weft's host MAC
    /// for that IP (<c>aa:aa:&lt;ip&gt;</c>). Anything else with that name is not weft's to delete.
    /// </summary>
    public static bool IsDetached(Link link) =>
        link.Name.StartsWith("w-", StringComparison.Ordinal) && !link.IsUp && link.Mac is { } mac
        && Ipv4.TryParse(NameToIp(link.Name), out var ip) && mac.GetAddressBytes().AsSpan().SequenceEqual(Naming.HostMac(ip));

    private static string NameToIp(string name)
    {
        var d = name.AsSpan(2);
        return d.Length == 12 ? $"{int.Parse(d[..3])}.{int.Parse(d[3..6])}.{int.Parse(d[6..9])}.{int.Parse(d[9..])}" : "";
    }

    /// <summary>The background half of a DEL: deletes link <paramref name="index"/> if it is still a detached weft veth.</summary>
    public void DeleteDetached(int index)
    {
        using var host = Netlink.Open(_host);
        Link link;
        try
        {
            link = host.LinkByIndex(index);
        }
        catch (KernelException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT)
        {
            return;
        }

        if (IsDetached(link))
        {
            TryDel(host, index);
        }
    }

    /// <summary>Deletes every detached weft veth in the host namespace (GC); returns how many.</summary>
    public int Reap()
    {
        using var host = Netlink.Open(_host);
        var n = 0;
        foreach (var link in host.LinkList())
        {
            if (IsDetached(link))
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
        using var host = Netlink.Open(_host);
        var ip = ToAddress(spec.Ip);
        var gateway = ToAddress(Naming.HostSideIp);

        var h = host.TryLinkByName(spec.HostVeth) ?? throw Drift($"host link {spec.HostVeth} is missing");
        CheckLink(h, "veth", spec.Mtu, Naming.HostMac(spec.Ip));
        if (!host.AddrList(h.Index, AddressFamily.InterNetwork).Any(a => a.Prefix.Address.Equals(gateway) && a.Prefix.Length == 32 && ip.Equals(a.Peer)))
        {
            throw Drift($"{spec.HostVeth} lacks 169.254.0.1/32 peer {spec.Ip}/32");
        }

        if (!host.RouteList().Any(r => r.Device == h.Index && r.Dst is { } d && d.Length == 32 && d.Address.Equals(ip)))
        {
            throw Drift($"the host has no route to {spec.Ip}/32 via {spec.HostVeth}");
        }

        using var c = cns.Run(() => Netlink.Open());
        var link = c.TryLinkByName(spec.IfName) ?? throw Drift($"interface {spec.IfName} is missing in {spec.Netns}");
        CheckLink(link, "veth", spec.Mtu, Naming.ContainerMac(spec.Ip));
        var addrs = c.AddrList(link.Index, AddressFamily.InterNetwork);
        if (!addrs.Any(a => a.Prefix.Address.Equals(ip) && a.Prefix.Length == 32 && gateway.Equals(a.Peer)))
        {
            throw Drift($"{spec.IfName} lacks {spec.Ip}/32 peer 169.254.0.1");
        }

        if (addrs.Count != 1)
        {
            throw Drift($"{spec.IfName} has {addrs.Count} IPv4 addresses, expected only {spec.Ip}/32");
        }

        if (!c.RouteList().Any(r => r.Dst is null && gateway.Equals(r.Gateway) && r.Device == link.Index))
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

    private static void SetDeviceSysctls(string dev)
    {
        TrySysctl($"net/ipv6/conf/{dev}/disable_ipv6", "1"); // absent when IPv6 is off altogether
        Sysctl.Write(null, $"net/ipv4/conf/{dev}/rp_filter", "1");
    }

    private static void SetHostSysctls(string hostVeth)
    {
        SetDeviceSysctls(hostVeth);
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
