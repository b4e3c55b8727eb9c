using System.Net;
using System.Net.Sockets;

namespace Weft.Agent.Overlay;

/// <summary>A cell's subnet lease (CF Silk semantics): the /24 it owns and the underlay IP it is reached at.</summary>
public sealed record Lease(IPAddress UnderlayIp, IPNetwork Subnet, string HardwareAddr)
{
    /// <summary>The VTEP's overlay address: the subnet's base IP (10.255.12.0 for 10.255.12.0/24).</summary>
    public IPAddress VtepIp => Subnet.BaseAddress;

    /// <summary>The VTEP MAC that Silk derives from the base IP: <c>ee:ee:</c> + its 4 bytes.</summary>
    public static string MacFor(IPAddress baseIp)
    {
        var b = baseIp.GetAddressBytes();
        return $"ee:ee:{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}";
    }

    /// <summary>The VTEP MAC this lease uses: the one it carries, else derived from its base IP.</summary>
    public string VtepMac => string.IsNullOrEmpty(HardwareAddr) ? MacFor(VtepIp) : HardwareAddr.ToLowerInvariant();
}

/// <summary>A route on the VTEP: <c>ip route replace Dst via Gateway dev weft-vtep onlink</c>.</summary>
public sealed record OverlayRoute(IPNetwork Dst, IPAddress Gateway);

/// <summary>A permanent neighbour on the VTEP: <c>ip neigh replace Ip lladdr Mac dev weft-vtep nud permanent</c>.</summary>
public sealed record OverlayNeighbour(IPAddress Ip, string Mac);

/// <summary>A permanent FDB entry on the VTEP: <c>bridge fdb replace Mac dev weft-vtep dst Dst self permanent</c>.</summary>
public sealed record FdbEntry(string Mac, IPAddress Dst);

/// <summary>Desired overlay state of a cell.</summary>
public sealed record OverlayDesired(IReadOnlySet<OverlayRoute> Routes, IReadOnlySet<OverlayNeighbour> Neighbours, IReadOnlySet<FdbEntry> Fdb)
{
    public static readonly OverlayDesired Empty = new(new HashSet<OverlayRoute>(), new HashSet<OverlayNeighbour>(), new HashSet<FdbEntry>());
}

/// <summary>Pure: from the cell's own lease and all leases, the routes, neighbours and FDB entries it needs.</summary>
public static class OverlayPlanner
{
    public static OverlayDesired Compute(Lease own, IEnumerable<Lease> all, IPNetwork overlay, OverlayPlanStats? stats = null)
    {
        var routes = new HashSet<OverlayRoute>();
        var neighs = new HashSet<OverlayNeighbour>();
        var fdb = new HashSet<FdbEntry>();
        foreach (var l in all)
        {
            if (l.UnderlayIp.Equals(own.UnderlayIp) || l.Subnet.Equals(own.Subnet)) continue;
            if (l.Subnet.BaseAddress.AddressFamily != AddressFamily.InterNetwork || !overlay.Contains(l.Subnet.BaseAddress)
                || l.Subnet.PrefixLength < overlay.PrefixLength)
            {
                if (stats is not null) stats.NonRoutableLeases++;
                continue;
            }
            routes.Add(new OverlayRoute(l.Subnet, l.VtepIp));
            neighs.Add(new OverlayNeighbour(l.VtepIp, l.VtepMac));
            fdb.Add(new FdbEntry(l.VtepMac, l.UnderlayIp));
        }
        return new OverlayDesired(routes, neighs, fdb);
    }
}

public sealed class OverlayPlanStats
{
    public int NonRoutableLeases { get; set; }
}
