using Weft.Linux.Native;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Weft.Linux;

public sealed partial class Netlink
{
    /// <summary>Adds a neighbour entry; EEXIST when present.</summary>
    /// <remarks>Equivalent to: ip neigh add IP lladdr MAC dev DEV nud permanent</remarks>
    public void NeighAdd(Neighbor neighbor) => NeighModify(Rtm.RTM_NEWNEIGH, CreateExcl, neighbor, "ip neigh add");

    /// <summary>Adds or replaces a neighbour entry.</summary>
    /// <remarks>Equivalent to: ip neigh replace IP lladdr MAC dev DEV nud permanent</remarks>
    public void NeighReplace(Neighbor neighbor) => NeighModify(Rtm.RTM_NEWNEIGH, CreateReplace, neighbor, "ip neigh replace");

    /// <summary>Deletes a neighbour entry; ENOENT when absent.</summary>
    /// <remarks>Equivalent to: ip neigh del IP dev DEV</remarks>
    public void NeighDel(Neighbor neighbor) => NeighModify(Rtm.RTM_DELNEIGH, 0, neighbor, "ip neigh del");

    /// <summary>Neighbour (ARP/NDP) entries, optionally of one device and family.</summary>
    /// <remarks>Equivalent to: ip neigh show [dev DEV]</remarks>
    public List<Neighbor> NeighList(int? device = null, AddressFamily family = AddressFamily.Unspecified)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            w.BeginMessage(Rtm.RTM_GETNEIGH, Nl.NLM_F_DUMP);
            w.Write(new NdMsg { Family = AddrMessages.Family(family) });
            w.EndMessage();
            var all = Socket.Dump<Neighbor>(w.Written, NeighMessages.ParseNeighbor, "ip neigh show");
            return all.FindAll(n => (device is null || n.Device == device) &&
                                    (family == AddressFamily.Unspecified || n.Ip.AddressFamily == family));
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Adds or replaces an FDB entry (by default NTF_SELF, permanent: the VXLAN device's own table).</summary>
    /// <remarks>Equivalent to: bridge fdb replace MAC dev DEV dst IP self permanent</remarks>
    public void FdbReplace(FdbEntry entry) => FdbModify(Rtm.RTM_NEWNEIGH, CreateReplace, entry, "bridge fdb replace");

    /// <summary>Adds an FDB entry, also when the MAC already has one (several destinations for one MAC, e.g. 00:00:00:00:00:00 flooding).</summary>
    /// <remarks>Equivalent to: bridge fdb append MAC dev DEV dst IP self permanent</remarks>
    public void FdbAppend(FdbEntry entry) => FdbModify(Rtm.RTM_NEWNEIGH, CreateAppend, entry, "bridge fdb append");

    /// <summary>Adds an FDB entry; EEXIST when present.</summary>
    /// <remarks>Equivalent to: bridge fdb add MAC dev DEV dst IP self permanent</remarks>
    public void FdbAdd(FdbEntry entry) => FdbModify(Rtm.RTM_NEWNEIGH, CreateExcl, entry, "bridge fdb add");

    /// <summary>Deletes an FDB entry; ENOENT when absent.</summary>
    /// <remarks>Equivalent to: bridge fdb del MAC dev DEV [dst IP] self</remarks>
    public void FdbDel(FdbEntry entry) => FdbModify(Rtm.RTM_DELNEIGH, 0, entry, "bridge fdb del");

    /// <summary>FDB entries (AF_BRIDGE), optionally of one device.</summary>
    /// <remarks>Equivalent to: bridge fdb show [dev DEV]</remarks>
    public List<FdbEntry> FdbList(int? device = null)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            w.BeginMessage(Rtm.RTM_GETNEIGH, Nl.NLM_F_DUMP);
            w.Write(new NdMsg { Family = Libc.AF_BRIDGE });
            w.EndMessage();
            var all = Socket.Dump<FdbEntry>(w.Written, NeighMessages.ParseFdb, "bridge fdb show");
            return device is null ? all : all.FindAll(f => f.Device == device);
        }
        finally
        {
            w.Dispose();
        }
    }

    private void NeighModify(ushort type, ushort flags, Neighbor n, string verb)
    {
        ArgumentNullException.ThrowIfNull(n);
        var w = NetlinkWriter.Pooled(128);
        try
        {
            NeighMessages.WriteNeighbor(ref w, type, flags, n);
            Socket.Request(w.Written, $"{verb} {n.Ip}" + (n.Mac is null ? "" : $" lladdr {Format.Mac(n.Mac)}") + $" dev (index {n.Device})");
        }
        finally
        {
            w.Dispose();
        }
    }

    private void FdbModify(ushort type, ushort flags, FdbEntry f, string verb)
    {
        ArgumentNullException.ThrowIfNull(f);
        var w = NetlinkWriter.Pooled(128);
        try
        {
            NeighMessages.WriteFdb(ref w, type, flags, f);
            Socket.Request(w.Written, $"{verb} {Format.Mac(f.Mac)} dev (index {f.Device})" + (f.Dst is null ? "" : $" dst {f.Dst}"));
        }
        finally
        {
            w.Dispose();
        }
    }
}

/// <summary>Encoding and decoding of neighbour and FDB messages.</summary>
public static class NeighMessages
{
    public static void WriteNeighbor(ref NetlinkWriter w, ushort type, ushort flags, Neighbor n)
    {
        w.BeginMessage(type, flags);
        w.Write(new NdMsg
        {
            Family = AddrMessages.Family(n.Ip.AddressFamily),
            Index = n.Device,
            State = n.State,
            Flags = n.Flags,
        });
        w.AttrIp(Nda.NDA_DST, n.Ip);
        if (n.Mac is not null) w.AttrMac(Nda.NDA_LLADDR, n.Mac);
        w.EndMessage();
    }

    /// <summary>RTM_NEWNEIGH/RTM_DELNEIGH with family AF_BRIDGE: NDA_LLADDR is the MAC, NDA_DST the remote VTEP.</summary>
    public static void WriteFdb(ref NetlinkWriter w, ushort type, ushort flags, FdbEntry f)
    {
        w.BeginMessage(type, flags);
        w.Write(new NdMsg { Family = Libc.AF_BRIDGE, Index = f.Device, State = f.State, Flags = f.Flags });
        w.AttrMac(Nda.NDA_LLADDR, f.Mac);
        if (f.Dst is not null) w.AttrIp(Nda.NDA_DST, f.Dst);
        if (f.Vlan is ushort vlan) w.AttrU16(Nda.NDA_VLAN, vlan);
        if (f.Vni is uint vni) w.AttrU32(Nda.NDA_VNI, vni);
        w.EndMessage();
    }

    public static bool ParseNeighbor(in NetlinkMessage m, out Neighbor neighbor)
    {
        neighbor = null!;
        if (m.Type != Rtm.RTM_NEWNEIGH) return false;
        var h = m.Header<NdMsg>();
        if (h.Family is not (Libc.AF_INET or Libc.AF_INET6)) return false;
        IPAddress? ip = null;
        PhysicalAddress? mac = null;
        foreach (var a in m.Attributes<NdMsg>())
        {
            if (a.Type == Nda.NDA_DST) ip = a.Ip();
            else if (a.Type == Nda.NDA_LLADDR) mac = a.Mac();
        }
        if (ip is null) return false;
        neighbor = new Neighbor(h.Index, ip, mac) { State = h.State, Flags = h.Flags };
        return true;
    }

    public static bool ParseFdb(in NetlinkMessage m, out FdbEntry entry)
    {
        entry = null!;
        if (m.Type != Rtm.RTM_NEWNEIGH) return false;
        var h = m.Header<NdMsg>();
        if (h.Family != Libc.AF_BRIDGE) return false;
        PhysicalAddress? mac = null;
        IPAddress? dst = null;
        uint? vni = null;
        int? master = null;
        ushort? vlan = null;
        foreach (var a in m.Attributes<NdMsg>())
        {
            switch (a.Type)
            {
                case Nda.NDA_LLADDR: mac = a.Mac(); break;
                case Nda.NDA_DST: dst = a.Ip(); break;
                case Nda.NDA_VNI: vni = a.U32(); break;
                case Nda.NDA_MASTER: master = a.I32(); break;
                case Nda.NDA_VLAN: vlan = a.U16(); break;
            }
        }
        if (mac is null) return false;
        entry = new FdbEntry(h.Index, mac) { Dst = dst, Flags = h.Flags, State = h.State, Vni = vni, Master = master, Vlan = vlan };
        return true;
    }
}
