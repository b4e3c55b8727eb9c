using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

/// <summary>
/// The kernel objects of a lab's topology: named network namespaces, the fabric bridge, the veth
/// uplinks and their addresses. Every operation works inside a lab namespace, never in the
/// machine's own one, and is idempotent (an object that already exists as wanted is left alone).
/// </summary>
public static class LabNet
{
    public const string NetnsDir = "/run/netns";

    public static bool NetnsExists(string name) => File.Exists(Path.Combine(NetnsDir, name));

    /// <summary>Named namespaces whose name starts with <paramref name="prefix"/>.</summary>
    public static IReadOnlyList<string> ListNetns(string prefix)
        => Directory.Exists(NetnsDir)
            ? Directory.EnumerateFiles(NetnsDir).Select(Path.GetFileName).Where(n => n!.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n!).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>Equivalent to: ip netns add NAME; ip -n NAME link set lo up.</summary>
    public static void NetnsAdd(string name)
    {
        if (!NetnsExists(name)) Host.Check("ip", "netns", "add", name);
        Host.Check("ip", "-n", name, "link", "set", "lo", "up");
    }

    /// <summary>Equivalent to: ip netns delete NAME (nothing when absent).</summary>
    public static void NetnsDelete(string name)
    {
        if (!NetnsExists(name)) return;
        var r = Host.Run("ip", ["netns", "delete", name]);
        if (!r.Ok && NetnsExists(name)) throw new CliException($"cannot delete namespace {name}: {r.Stderr.Trim()}");
    }

    public static bool LinkExists(string netns, string link) => Host.Run("ip", ["-n", netns, "link", "show", "dev", link]).Ok;

    /// <summary>Equivalent to: ip -n NS link add NAME type bridge; ip -n NS link set NAME up.</summary>
    public static void BridgeAdd(string netns, string name)
    {
        if (!LinkExists(netns, name)) Host.Check("ip", "-n", netns, "link", "add", name, "type", "bridge");
        Host.Check("ip", "-n", netns, "link", "set", name, "up");
    }

    /// <summary>
    /// A veth from the fabric's bridge to another namespace, addressed there:
    /// ip -n FABRIC link add PORT type veth peer name UPLINK netns NS; ip -n FABRIC link set PORT master BRIDGE up;
    /// ip -n NS addr add ADDR dev UPLINK; ip -n NS link set UPLINK up.
    /// </summary>
    public static void Uplink(string fabricNetns, string bridge, string port, string netns, string uplink, string address)
    {
        if (!LinkExists(fabricNetns, port))
        {
            if (LinkExists(netns, uplink)) Host.Check("ip", "-n", netns, "link", "delete", uplink);
            Host.Check("ip", "-n", fabricNetns, "link", "add", port, "type", "veth", "peer", "name", uplink, "netns", netns);
        }
        Host.Check("ip", "-n", fabricNetns, "link", "set", port, "master", bridge, "up");
        var addrs = Host.Check("ip", "-n", netns, "-o", "-4", "addr", "show", "dev", uplink);
        if (!addrs.Contains(" " + address + " ", StringComparison.Ordinal))
            Host.Check("ip", "-n", netns, "addr", "add", address, "dev", uplink);
        Host.Check("ip", "-n", netns, "link", "set", uplink, "up");
    }

    /// <summary>Equivalent to: ip netns exec NS sysctl -w KEY=VALUE.</summary>
    public static void Sysctl(string netns, string key, string value)
        => Host.Check("ip", "netns", "exec", netns, "sysctl", "-qw", key + "=" + value);
}
