using System.Net;
using System.Net.Sockets;
using Weft.Contracts;

namespace Weft.Server.Leases;

/// <summary>
/// The overlay network carved into cell subnets, Silk's way (silk/controller/leaser/cidrpool.go):
/// blocks of /<see cref="SubnetPrefixLength"/> except the first block; single /32s from the first
/// block (.1 to the block's last address). Pure: no I/O.
/// </summary>
public sealed class LeasePool
{
    public uint NetworkBase { get; }
    public int NetworkPrefixLength { get; }
    public int SubnetPrefixLength { get; }
    public string Network { get; }

    public LeasePool(string network, int subnetPrefixLength)
    {
        if (!TryParseCidr(network, out var baseIp, out var prefix))
            throw new ArgumentException($"overlay network '{network}' is not an IPv4 CIDR (e.g. 10.255.0.0/16)");
        if (subnetPrefixLength < 1 || subnetPrefixLength > 30 || subnetPrefixLength <= prefix)
            throw new ArgumentException($"subnet prefix length {subnetPrefixLength} must be 1-30 and longer than the network's /{prefix}");
        NetworkBase = baseIp & Mask(prefix);
        NetworkPrefixLength = prefix;
        SubnetPrefixLength = subnetPrefixLength;
        Network = $"{ToIp(NetworkBase)}/{prefix}";
    }

    public uint BlockSize => 1u << (32 - SubnetPrefixLength);

    /// <summary>Number of blocks handed to cells (all blocks but the first).</summary>
    public long BlockCount => (1L << (SubnetPrefixLength - NetworkPrefixLength)) - 1;

    /// <summary>Number of single /32 addresses (first block without its network address).</summary>
    public long SingleCount => BlockSize - 1;

    /// <summary>The i-th block subnet, i in [0, BlockCount).</summary>
    public string Block(long i) => $"{ToIp(NetworkBase + (uint)((i + 1) * BlockSize))}/{SubnetPrefixLength}";

    /// <summary>The i-th single address, i in [0, SingleCount).</summary>
    public string Single(long i) => $"{ToIp(NetworkBase + (uint)(i + 1))}/32";

    /// <summary>True if <paramref name="subnet"/> is a block or single this pool could have handed out.</summary>
    public bool Contains(string subnet)
    {
        if (!TryParseCidr(subnet, out var ip, out var prefix)) return false;
        if ((ip & Mask(NetworkPrefixLength)) != NetworkBase) return false;
        if (prefix == 32) return ip - NetworkBase is > 0 and var off && off < BlockSize;
        return prefix == SubnetPrefixLength && (ip & Mask(prefix)) == ip && ip - NetworkBase >= BlockSize;
    }

    /// <summary>
    /// Picks a random free subnet of the kind, or null when every one is taken.
    /// <paramref name="taken"/> holds the subnets already stored (of any kind).
    /// </summary>
    public string? PickFree(bool single, IReadOnlySet<string> taken, Random random)
    {
        var count = single ? SingleCount : BlockCount;
        // Random probes first (cheap when the pool is mostly free), then a scan from a random start.
        for (var attempt = 0; attempt < 32; attempt++)
        {
            var i = random.NextInt64(count);
            var s = single ? Single(i) : Block(i);
            if (!taken.Contains(s)) return s;
        }
        var startAt = random.NextInt64(count);
        for (long k = 0; k < count; k++)
        {
            var i = (startAt + k) % count;
            var s = single ? Single(i) : Block(i);
            if (!taken.Contains(s)) return s;
        }
        return null;
    }

    /// <summary>VTEP MAC: ee:ee: followed by the 4 bytes of the subnet's base address (silk/lib/hwaddr).</summary>
    public static string HardwareAddr(string subnet)
    {
        if (!TryParseCidr(subnet, out var ip, out _)) throw new ArgumentException($"not a CIDR: {subnet}");
        return $"ee:ee:{ip >> 24:x2}:{(ip >> 16) & 0xff:x2}:{(ip >> 8) & 0xff:x2}:{ip & 0xff:x2}";
    }

    /// <summary>Validates a lease as Silk's renew does; returns an error message or null.</summary>
    public static string? Validate(Lease lease)
    {
        if (!IPAddress.TryParse(lease.UnderlayIp, out var u) || u.AddressFamily != AddressFamily.InterNetwork)
            return $"invalid underlay ip: {lease.UnderlayIp}";
        if (!TryParseCidr(lease.OverlaySubnet, out _, out _))
            return $"invalid overlay subnet: {lease.OverlaySubnet}";
        if (!System.Net.NetworkInformation.PhysicalAddress.TryParse(lease.OverlayHardwareAddr.Replace(':', '-'), out var mac)
            || mac.GetAddressBytes().Length != 6)
            return $"invalid overlay hardware address: {lease.OverlayHardwareAddr}";
        return null;
    }

    public static bool IsIPv4(string s) =>
        IPAddress.TryParse(s, out var a) && a.AddressFamily == AddressFamily.InterNetwork && s.Count(c => c == '.') == 3;

    public static bool TryParseCidr(string? s, out uint ip, out int prefix)
    {
        ip = 0; prefix = 0;
        if (s is null) return false;
        var slash = s.IndexOf('/');
        if (slash < 0) return false;
        if (!IsIPv4(s[..slash]) || !int.TryParse(s.AsSpan(slash + 1), out prefix) || prefix is < 0 or > 32) return false;
        var b = IPAddress.Parse(s[..slash]).GetAddressBytes();
        ip = (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
        return true;
    }

    public static uint Mask(int prefix) => prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);

    public static string ToIp(uint ip) => $"{ip >> 24}.{(ip >> 16) & 0xff}.{(ip >> 8) & 0xff}.{ip & 0xff}";
}
