using System.Net;
using Weft.Linux;

namespace Weft.Cli.Lab;

/// <summary>
/// The kernel objects of a lab's topology, through Weft.Linux: named network namespaces, the
/// fabric bridge, the veth uplinks and their addresses. Every operation works inside a lab
/// namespace, never in the machine's own one, and is idempotent (what exists as wanted stays).
/// </summary>
public static class LabNet
{
    public static bool NetnsExists(string name) => NetNs.Exists(name);

    /// <summary>Named namespaces whose name starts with <paramref name="prefix"/>.</summary>
    public static IReadOnlyList<string> ListNetns(string prefix)
        => NetNs.List().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();

    /// <summary>Equivalent to: ip netns add NAME; ip -n NAME link set lo up.</summary>
    public static void NetnsAdd(string name)
    {
        if (!NetNs.Exists(name))
        {
            try { NetNs.Create(name).Dispose(); }
            catch (KernelException e) when (e.Errno == Errno.EEXIST) { }
        }
        using var ns = NetNs.OpenByName(name);
        using var nl = Netlink.Open(ns);
        nl.LinkSetUp("lo");
    }

    /// <summary>Equivalent to: ip netns delete NAME (nothing when absent).</summary>
    public static void NetnsDelete(string name) => NetNs.TryDelete(name);

    /// <summary>Equivalent to: ip -n NS link add NAME type bridge; ip -n NS link set NAME up.</summary>
    public static void BridgeAdd(string netns, string name)
    {
        using var ns = NetNs.OpenByName(netns);
        using var nl = Netlink.Open(ns);
        if (nl.TryLinkByName(name) is null) nl.LinkAddBridge(name);
        nl.LinkSetUp(name);
    }

    /// <summary>
    /// A veth from the fabric's bridge to another namespace, addressed there. Equivalent to:
    /// ip -n FABRIC link add PORT type veth peer name UPLINK netns NS; ip -n FABRIC link set PORT master BRIDGE up;
    /// ip -n NS addr add ADDR/24 dev UPLINK; ip -n NS link set UPLINK up.
    /// </summary>
    public static void Uplink(string fabricNetns, string bridge, string port, string netns, string uplink, string address, int prefix)
    {
        using var fabric = NetNs.OpenByName(fabricNetns);
        using var target = NetNs.OpenByName(netns);
        using var fnl = Netlink.Open(fabric);
        using var tnl = Netlink.Open(target);
        if (fnl.TryLinkByName(port) is null)
        {
            if (tnl.TryLinkByName(uplink) is not null) tnl.LinkDel(uplink);
            fnl.LinkAddVeth(port, uplink, target);
        }
        fnl.LinkSetMaster(port, bridge);
        fnl.LinkSetUp(port);
        var link = tnl.LinkByName(uplink);
        var want = new IpPrefix(IPAddress.Parse(address), prefix);
        if (!tnl.AddrList(link.Index).Any(a => a.Prefix.Equals(want)))
            tnl.AddrAdd(new Address(link.Index, want));
        tnl.LinkSetUp(uplink);
    }

    /// <summary>Equivalent to: ip netns exec NS sysctl -w KEY=VALUE.</summary>
    public static void Sysctl(string netns, string key, string value)
    {
        using var ns = NetNs.OpenByName(netns);
        Weft.Linux.Sysctl.Write(ns, key, value);
    }
}
