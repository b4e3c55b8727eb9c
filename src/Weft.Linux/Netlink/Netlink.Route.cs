using Weft.Linux.Native;
using System.Net;
using System.Net.Sockets;

namespace Weft.Linux;

public sealed partial class Netlink
{
    /// <summary>Adds a route; EEXIST when one with the same key exists.</summary>
    /// <remarks>Equivalent to: ip route add DST [via GW] [dev DEV] [onlink] [src SRC] [scope S] [table T] [proto P] [metric M]</remarks>
    public void RouteAdd(Route route) => RouteModify(Rtm.RTM_NEWROUTE, CreateExcl, route, "ip route add");

    /// <summary>Adds a route or replaces the one with the same key.</summary>
    /// <remarks>Equivalent to: ip route replace DST [via GW] [dev DEV] [onlink] …</remarks>
    public void RouteReplace(Route route) => RouteModify(Rtm.RTM_NEWROUTE, CreateReplace, route, "ip route replace");

    /// <summary>
    /// Deletes a route matching the destination, table and (when given) gateway, device, source and
    /// metric; type, scope and protocol act as wildcards, as with <c>ip route del</c>. ESRCH when none matches.
    /// </summary>
    /// <remarks>Equivalent to: ip route del DST [via GW] [dev DEV] [table T]</remarks>
    public void RouteDel(Route route) => RouteModify(Rtm.RTM_DELROUTE, 0, route, "ip route del");

    /// <summary>Routes of one family (Unspecified: all) in one table (main by default; null: all tables). Cloned cache entries are skipped.</summary>
    /// <remarks>Equivalent to: ip route show [table T]  (ip -6 route for IPv6)</remarks>
    public List<Route> RouteList(AddressFamily family = AddressFamily.InterNetwork, uint? table = Rtm.RT_TABLE_MAIN)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            w.BeginMessage(Rtm.RTM_GETROUTE, Nl.NLM_F_DUMP);
            w.Write(new RtMsg { Family = AddrMessages.Family(family) });
            w.EndMessage();
            var all = Socket.Dump<Route>(w.Written, RouteMessages.Parse, "ip route show");
            return all.FindAll(r => (table is null || r.Table == table) && (family == AddressFamily.Unspecified || r.ResolvedFamily == family));
        }
        finally
        {
            w.Dispose();
        }
    }

    private void RouteModify(ushort type, ushort flags, Route route, string verb)
    {
        ArgumentNullException.ThrowIfNull(route);
        var w = NetlinkWriter.Pooled(128);
        try
        {
            RouteMessages.Write(ref w, type, flags, route);
            Socket.Request(w.Written, $"{verb} {RouteMessages.Describe(route)}");
        }
        finally
        {
            w.Dispose();
        }
    }
}

/// <summary>Encoding and decoding of route messages.</summary>
public static class RouteMessages
{
    private const uint RTM_F_CLONED = 0x200;

    public static void Write(ref NetlinkWriter w, ushort type, ushort flags, Route r)
    {
        bool del = type == Rtm.RTM_DELROUTE;
        var family = r.ResolvedFamily;
        w.BeginMessage(type, flags);
        w.Write(new RtMsg
        {
            Family = AddrMessages.Family(family),
            DstLen = (byte)(r.Dst?.Length ?? 0),
            Table = r.Table < 256 ? (byte)r.Table : Rtm.RT_TABLE_UNSPEC,
            Protocol = del ? Rtm.RTPROT_UNSPEC : r.Protocol,
            Scope = del ? Rtm.RT_SCOPE_NOWHERE : r.Scope,
            Type = del ? Rtm.RTN_UNSPEC : r.Type,
            Flags = r.OnLink ? Rtm.RTNH_F_ONLINK : 0,
        });
        if (r.Table >= 256) w.AttrU32(Rtm.RTA_TABLE, r.Table);
        if (r.Dst is IpPrefix dst) w.AttrIp(Rtm.RTA_DST, dst.Address);
        if (r.Src is not null) w.AttrIp(Rtm.RTA_PREFSRC, r.Src);
        if (r.Gateway is not null) w.AttrIp(Rtm.RTA_GATEWAY, r.Gateway);
        if (r.Device is int dev) w.AttrU32(Rtm.RTA_OIF, (uint)dev);
        if (r.Metric is uint metric) w.AttrU32(Rtm.RTA_PRIORITY, metric);
        w.EndMessage();
    }

    public static bool Parse(in NetlinkMessage m, out Route route)
    {
        route = null!;
        if (m.Type != Rtm.RTM_NEWROUTE) return false;
        var h = m.Header<RtMsg>();
        if ((h.Flags & RTM_F_CLONED) != 0) return false;
        IPAddress? dst = null, gw = null, src = null;
        int? oif = null;
        uint? metric = null;
        uint table = h.Table;
        foreach (var a in m.Attributes<RtMsg>())
        {
            switch (a.Type)
            {
                case Rtm.RTA_DST: dst = a.Ip(); break;
                case Rtm.RTA_GATEWAY: gw = a.Ip(); break;
                case Rtm.RTA_PREFSRC: src = a.Ip(); break;
                case Rtm.RTA_OIF: oif = a.I32(); break;
                case Rtm.RTA_PRIORITY: metric = a.U32(); break;
                case Rtm.RTA_TABLE: table = a.U32(); break;
            }
        }
        var family = h.Family == Libc.AF_INET6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        route = new Route
        {
            Dst = dst is not null ? new IpPrefix(dst, h.DstLen) : null,
            Gateway = gw,
            Src = src,
            Device = oif,
            Scope = h.Scope,
            Table = table,
            Protocol = h.Protocol,
            Type = h.Type,
            OnLink = (h.Flags & Rtm.RTNH_F_ONLINK) != 0,
            Metric = metric,
            Family = family,
        };
        return true;
    }

    internal static string Describe(Route r) =>
        (r.Dst?.ToString() ?? "default")
        + (r.Gateway is null ? "" : $" via {r.Gateway}")
        + (r.Device is null ? "" : $" dev (index {r.Device})")
        + (r.OnLink ? " onlink" : "")
        + (r.Src is null ? "" : $" src {r.Src}")
        + (r.Table == Rtm.RT_TABLE_MAIN ? "" : $" table {r.Table}")
        + (r.Metric is null ? "" : $" metric {r.Metric}");
}
