using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Weft.Agent.Overlay;
using Weft.Linux;
using KFdb = Weft.Linux.FdbEntry;
using Route = Weft.Linux.Route;

namespace Weft.Agent.Dataplane;

/// <summary>Settings of the cell's VXLAN device.</summary>
public sealed record VtepConfig(string Name = "weft-vtep", uint Vni = 1, ushort Port = 4789);

/// <summary>
/// Owns the cell's VXLAN device (<c>weft-vtep</c>: VNI 1, UDP 4789, GBP on, learning off,
/// MTU = underlay MTU − 50, address = lease base IP / overlay prefix, MAC ee:ee:&lt;base IP&gt;).
/// </summary>
public sealed class VtepDriver(Netlink nl, VtepConfig config)
{
    public VtepConfig Config => config;

    /// <summary>The underlay device: the named one, else the one that holds <paramref name="underlayIp"/>.</summary>
    public Link FindUnderlay(IPAddress underlayIp, string? device)
    {
        if (device is not null) return nl.LinkByName(device);
        var a = nl.AddrList(family: AddressFamily.InterNetwork).FirstOrDefault(a => a.Prefix.Address.Equals(underlayIp))
            ?? throw new InvalidOperationException($"no interface holds the underlay IP {underlayIp}; pass --underlay-interface");
        return nl.LinkByIndex(a.Device);
    }

    /// <summary>
    /// Makes the VTEP match the lease; an existing device with the right settings is left as it is
    /// (a restart does not disturb traffic). Returns the VTEP's MTU (what containers get).
    /// Equivalent to: ip link add weft-vtep type vxlan id 1 local U dev D dstport 4789 gbp nolearning;
    /// ip link set weft-vtep address ee:ee:… mtu M up; ip addr replace B/16 dev weft-vtep scope link
    /// </summary>
    public int Ensure(Lease own, IPNetwork overlay, IPAddress underlayIp, string? underlayDevice)
    {
        var ul = FindUnderlay(underlayIp, underlayDevice);
        var mtu = ul.Mtu - 50;
        var mac = PhysicalAddress.Parse(own.VtepMac.Replace(':', '-').ToUpperInvariant());
        var link = nl.TryLinkByName(config.Name);
        if (link is not null && !Matches(link, underlayIp, ul.Index, mac))
        {
            nl.LinkDel(config.Name);
            link = null;
        }
        if (link is null)
        {
            nl.LinkAddVxlan(new VxlanSpec(config.Name, config.Vni)
            {
                Port = config.Port, Local = underlayIp, UnderlayDevice = ul.Index, Learning = false, Gbp = true, Mtu = mtu, Mac = mac,
            });
            link = nl.LinkByName(config.Name);
        }
        if (link.Mtu != mtu) nl.LinkSetMtu(config.Name, mtu);

        var want = new IpPrefix(own.VtepIp, overlay.PrefixLength);
        var addrs = nl.AddrList(link.Index, AddressFamily.InterNetwork);
        foreach (var a in addrs.Where(a => a.Prefix != want)) nl.AddrDel(a);
        if (!addrs.Any(a => a.Prefix == want))
        {
            nl.AddrReplace(new Address(link.Index, want) { Scope = Rtm.RT_SCOPE_LINK });
        }
        if (!link.IsUp) nl.LinkSetUp(config.Name);
        return mtu;
    }

    private bool Matches(Link l, IPAddress underlayIp, int ulIndex, PhysicalAddress mac) =>
        l.Kind == "vxlan" && l.Vxlan is { } v && v.Id == config.Vni && v.Port == config.Port && v.Gbp && !v.Learning &&
        underlayIp.Equals(v.Local) && v.UnderlayDevice == ulIndex && mac.Equals(l.Mac);

    /// <summary>The lease the existing VTEP was built for (its address and MAC), if there is one.</summary>
    public (IPAddress BaseIp, string Mac)? ReadExisting()
    {
        var link = nl.TryLinkByName(config.Name);
        if (link is null || link.Kind != "vxlan") return null;
        var a = nl.AddrList(link.Index, AddressFamily.InterNetwork).FirstOrDefault();
        return a is null ? null : (a.Prefix.Address, link.Mac is null ? "" : MacText.Of(link.Mac));
    }

    public int? Index => nl.TryLinkByName(config.Name)?.Index;

    /// <summary>Equivalent to: ip link del weft-vtep (no error when absent).</summary>
    public void Delete()
    {
        try { nl.LinkDel(config.Name); }
        catch (KernelException e) when (e.IsNotFound) { }
    }
}

/// <summary>The overlay reconciler's view of the kernel: routes, neighbours and FDB entries on the VTEP.</summary>
public sealed class NetlinkOverlayKernel(Netlink nl, string vtepName) : IOverlayKernel
{
    private int Index => nl.LinkByName(vtepName).Index;

    public IReadOnlyCollection<OverlayRoute> ListRoutes()
    {
        var idx = Index;
        return nl.RouteList(AddressFamily.InterNetwork)
            .Where(r => r.Device == idx && r.Gateway is not null && r.Dst is { } d)
            .Select(r => new OverlayRoute(new IPNetwork(r.Dst!.Value.Address, r.Dst.Value.Length), r.Gateway!))
            .ToList();
    }

    public IReadOnlyCollection<OverlayNeighbour> ListNeighbours() =>
        nl.NeighList(Index, AddressFamily.InterNetwork)
            .Where(n => (n.State & Nda.NUD_PERMANENT) != 0 && n.Mac is not null)
            .Select(n => new OverlayNeighbour(n.Ip, MacText.Of(n.Mac!)))
            .ToList();

    public IReadOnlyCollection<Overlay.FdbEntry> ListFdb() =>
        nl.FdbList(Index)
            .Where(f => f.Dst is not null && (f.State & Nda.NUD_PERMANENT) != 0)
            .Select(f => new Overlay.FdbEntry(MacText.Of(f.Mac), f.Dst!))
            .ToList();

    /// <summary>Equivalent to: ip route replace DST via GW dev weft-vtep</summary>
    public void RouteReplace(OverlayRoute r) =>
        nl.RouteReplace(new Route { Dst = new IpPrefix(r.Dst.BaseAddress, r.Dst.PrefixLength), Gateway = r.Gateway, Device = Index, OnLink = true });

    public void RouteDelete(OverlayRoute r) =>
        Ignore(() => nl.RouteDel(new Route { Dst = new IpPrefix(r.Dst.BaseAddress, r.Dst.PrefixLength), Gateway = r.Gateway, Device = Index }));

    /// <summary>Equivalent to: ip neigh replace IP lladdr MAC dev weft-vtep nud permanent</summary>
    public void NeighReplace(OverlayNeighbour n) => nl.NeighReplace(new Neighbor(Index, n.Ip, Mac(n.Mac)));

    public void NeighDelete(OverlayNeighbour n) => Ignore(() => nl.NeighDel(new Neighbor(Index, n.Ip, Mac(n.Mac))));

    /// <summary>Equivalent to: bridge fdb replace MAC dev weft-vtep dst UNDERLAY self permanent</summary>
    public void FdbReplace(Overlay.FdbEntry f) => nl.FdbReplace(new KFdb(Index, Mac(f.Mac)) { Dst = f.Dst });

    public void FdbDelete(Overlay.FdbEntry f) => Ignore(() => nl.FdbDel(new KFdb(Index, Mac(f.Mac)) { Dst = f.Dst }));

    private static PhysicalAddress Mac(string s) => PhysicalAddress.Parse(s.Replace(':', '-').ToUpperInvariant());

    private static void Ignore(Action a)
    {
        try { a(); }
        catch (KernelException e) when (e.IsNotFound) { }
    }
}

internal static class MacText
{
    public static string Of(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}
