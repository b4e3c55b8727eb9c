using Weft.Linux.Native;
using System.Net;
using System.Net.Sockets;

namespace Weft.Linux;

public sealed partial class Netlink
{
    /// <summary>Adds an address; EEXIST when it is already there.</summary>
    /// <remarks>Equivalent to: ip addr add PREFIX [peer PEER] [scope S] [label L] dev DEV</remarks>
    public void AddrAdd(Address address) => AddrModify(Rtm.RTM_NEWADDR, CreateExcl, address, "ip addr add");

    /// <summary>Adds an address, or updates it when present.</summary>
    /// <remarks>Equivalent to: ip addr replace PREFIX [peer PEER] dev DEV</remarks>
    public void AddrReplace(Address address) => AddrModify(Rtm.RTM_NEWADDR, CreateReplace, address, "ip addr replace");

    /// <summary>Deletes an address; EADDRNOTAVAIL when it is not there.</summary>
    /// <remarks>Equivalent to: ip addr del PREFIX [peer PEER] dev DEV</remarks>
    public void AddrDel(Address address) => AddrModify(Rtm.RTM_DELADDR, 0, address, "ip addr del");

    /// <summary>Addresses, optionally of one device and one family.</summary>
    /// <remarks>Equivalent to: ip addr show [dev DEV]  (ip -4 / ip -6 for the family)</remarks>
    public List<Address> AddrList(int? device = null, AddressFamily family = AddressFamily.Unspecified)
    {
        var w = NetlinkWriter.Pooled(64);
        try
        {
            w.BeginMessage(Rtm.RTM_GETADDR, Nl.NLM_F_DUMP);
            w.Write(new IfAddrMsg { Family = AddrMessages.Family(family) });
            w.EndMessage();
            var all = Socket.Dump<Address>(w.Written, AddrMessages.Parse, "ip addr show");
            return all.FindAll(a => (device is null || a.Device == device) &&
                                    (family == AddressFamily.Unspecified || a.Prefix.Family == family));
        }
        finally
        {
            w.Dispose();
        }
    }

    private void AddrModify(ushort type, ushort flags, Address address, string verb)
    {
        ArgumentNullException.ThrowIfNull(address);
        var w = NetlinkWriter.Pooled(128);
        try
        {
            AddrMessages.Write(ref w, type, flags, address);
            Socket.Request(w.Written, $"{verb} {address.Prefix}" + (address.Peer is null ? "" : $" peer {address.Peer}") + $" dev (index {address.Device})");
        }
        finally
        {
            w.Dispose();
        }
    }
}

/// <summary>Encoding and decoding of address messages.</summary>
public static class AddrMessages
{
    internal static byte Family(AddressFamily f) => f switch
    {
        AddressFamily.InterNetwork => Libc.AF_INET,
        AddressFamily.InterNetworkV6 => Libc.AF_INET6,
        _ => Libc.AF_UNSPEC,
    };

    /// <summary>RTM_NEWADDR/RTM_DELADDR: IFA_LOCAL is the address, IFA_ADDRESS the peer (or the address again).</summary>
    public static void Write(ref NetlinkWriter w, ushort type, ushort flags, Address a)
    {
        w.BeginMessage(type, flags);
        w.Write(new IfAddrMsg
        {
            Family = Family(a.Prefix.Family),
            PrefixLen = (byte)a.Prefix.Length,
            Flags = (byte)(a.Flags & 0xFF),
            Scope = a.Scope,
            Index = a.Device,
        });
        w.AttrIp(Ifa.IFA_LOCAL, a.Prefix.Address);
        w.AttrIp(Ifa.IFA_ADDRESS, a.Peer ?? a.Prefix.Address);
        if (a.Label is not null) w.AttrString(Ifa.IFA_LABEL, a.Label);
        if (a.Flags > 0xFF) w.AttrU32(Ifa.IFA_FLAGS, a.Flags);
        w.EndMessage();
    }

    public static bool Parse(in NetlinkMessage m, out Address address)
    {
        address = null!;
        if (m.Type != Rtm.RTM_NEWADDR) return false;
        var h = m.Header<IfAddrMsg>();
        IPAddress? local = null, addr = null;
        string? label = null;
        uint flags = h.Flags;
        foreach (var a in m.Attributes<IfAddrMsg>())
        {
            switch (a.Type)
            {
                case Ifa.IFA_LOCAL: local = a.Ip(); break;
                case Ifa.IFA_ADDRESS: addr = a.Ip(); break;
                case Ifa.IFA_LABEL: label = a.String(); break;
                case Ifa.IFA_FLAGS: flags = a.U32(); break;
            }
        }
        var ip = local ?? addr;
        if (ip is null) return false;
        address = new Address(h.Index, new IpPrefix(ip, h.PrefixLen))
        {
            Peer = local is not null && addr is not null && !addr.Equals(local) ? addr : null,
            Scope = h.Scope,
            Label = label,
            Flags = flags,
        };
        return true;
    }
}
