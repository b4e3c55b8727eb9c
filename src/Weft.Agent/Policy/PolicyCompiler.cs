using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Weft.Agent.Policy;

/// <summary>
/// Pure: computes the desired content of <c>inet weft</c> from policies (with tags), the cell's local
/// containers and the underlay IPs of all cells that hold leases. No I/O; same inputs, same output.
/// </summary>
public static class PolicyCompiler
{
    /// <summary>The mark put on traffic DNATed from a port mapping; its low 16 bits are zero, so it can
    /// never arrive in a VXLAN-GBP header (tags are 1..65535).</summary>
    public const uint IngressMark = 0xffff0000;

    public static DesiredTable Compute(PolicyInputs inputs, CompileStats? stats = null)
    {
        stats ??= new CompileStats();
        var cells = Builder();
        foreach (var ip in inputs.CellUnderlayIps)
        {
            if (ip.AddressFamily == AddressFamily.InterNetwork) cells.Add(ip.ToString());
        }

        // Tag of every app that appears in a policy (either end).
        var tagOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var valid = new List<PolicyRule>(inputs.Policies.Count);
        foreach (var p in inputs.Policies)
        {
            if (!IsValid(p)) { stats.SkippedPolicies++; continue; }
            valid.Add(p);
            tagOf.TryAdd(p.SourceApp, p.SourceTag);
            tagOf.TryAdd(p.DestinationApp, p.DestinationTag);
        }
        // The router's containers send with the router tag even when no policy names the router.
        var router = inputs.Router is { Tag: >= 1 and <= 0xffff, AppId.Length: > 0 } r ? r : null;
        if (router is not null) tagOf.TryAdd(router.AppId, router.Tag);

        var srcTag = Builder();
        var localIps = Builder();
        var veths = Builder();
        var mapped = Builder();
        var portmap = Builder();
        var byApp = new Dictionary<string, List<LocalContainer>>(StringComparer.Ordinal);
        var seenHostPorts = new HashSet<(string, int)>();
        foreach (var c in inputs.Containers.OrderBy(c => c.ContainerId, StringComparer.Ordinal).ThenBy(c => c.IfName, StringComparer.Ordinal))
        {
            // The veth name goes into nft text and the anti-spoofing set: only the exact name
            // weft-cni derives from the IP (never a quote, a wildcard or an over-long name).
            if (c.Ip.AddressFamily != AddressFamily.InterNetwork || c.HostVeth != HostVethName(c.Ip)) { stats.SkippedContainers++; continue; }
            var ip = c.Ip.ToString();
            localIps.Add(ip);
            veths.Add($"\"{c.HostVeth}\" . {ip}");
            if (tagOf.TryGetValue(c.AppId, out var tag)) srcTag.Add($"{ip} : {Mark((uint)tag)}");
            if (!byApp.TryGetValue(c.AppId, out var list)) byApp[c.AppId] = list = [];
            list.Add(c);
            foreach (var pm in c.PortMappings)
            {
                var proto = pm.Protocol.ToLowerInvariant();
                if (proto is not ("tcp" or "udp") || !IsPort(pm.HostPort) || !IsPort(pm.ContainerPort)) { stats.SkippedPortMappings++; continue; }
                if (!seenHostPorts.Add((proto, pm.HostPort))) { stats.SkippedPortMappings++; continue; } // first container wins
                mapped.Add($"{proto} . {pm.HostPort}");
                portmap.Add($"{proto} . {pm.HostPort} : {ip} . {pm.ContainerPort}");
            }
        }

        // allow: (source tag, local destination IP, protocol) → merged port ranges.
        var ranges = new Dictionary<(int Tag, string Ip, string Proto), List<(int S, int E)>>();
        foreach (var p in valid)
        {
            if (!byApp.TryGetValue(p.DestinationApp, out var dsts)) continue;
            foreach (var c in dsts)
            {
                if (c.Ip.AddressFamily != AddressFamily.InterNetwork) continue;
                var key = (p.SourceTag, c.Ip.ToString(), p.Protocol.ToLowerInvariant());
                if (!ranges.TryGetValue(key, out var l)) ranges[key] = l = [];
                l.Add((p.StartPort, p.EndPort));
            }
        }
        // Overlay ingress: the router's tag may reach each local container's metadata ports (TCP, as
        // CF's policy agent does); merged with policy ranges of the same (tag, IP, protocol).
        if (router is not null)
        {
            foreach (var c in byApp.Values.SelectMany(l => l))
            {
                foreach (var port in c.Ports)
                {
                    if (!IsPort(port)) { stats.SkippedPorts++; continue; }
                    var key = (router.Tag, c.Ip.ToString(), "tcp");
                    if (!ranges.TryGetValue(key, out var l)) ranges[key] = l = [];
                    l.Add((port, port));
                }
            }
        }

        var allow = Builder();
        var allowRanges = Builder();
        foreach (var ((tag, ip, proto), list) in ranges)
        {
            foreach (var (s, e) in MergeRanges(list))
            {
                // One port: a hash set (an element change needs no read of the set, unlike an
                // interval set). A range: the interval set, always written "start-end".
                if (s == e) allow.Add($"{Mark((uint)tag)} . {ip} . {proto} . {s}");
                else allowRanges.Add($"{Mark((uint)tag)} . {ip} . {proto} . {s}-{e}");
            }
        }

        return new DesiredTable(inputs.Cell, new Dictionary<string, ImmutableSortedSet<string>>
        {
            ["cells"] = cells.ToImmutable(),
            ["src_tag"] = srcTag.ToImmutable(),
            ["allow"] = allow.ToImmutable(),
            ["allow_ranges"] = allowRanges.ToImmutable(),
            ["local_ips"] = localIps.ToImmutable(),
            ["veths"] = veths.ToImmutable(),
            ["mapped"] = mapped.ToImmutable(),
            ["portmap"] = portmap.ToImmutable(),
        });
    }

    /// <summary>weft-cni's host veth name for a container IPv4: <c>w-</c> + the four octets zero-padded
    /// (10.255.12.2 → <c>w-010255012002</c>, 14 characters), as Weft.Cni's Naming.HostVeth.</summary>
    public static string HostVethName(IPAddress ip)
    {
        var b = ip.GetAddressBytes();
        return string.Create(CultureInfo.InvariantCulture, $"w-{b[0]:D3}{b[1]:D3}{b[2]:D3}{b[3]:D3}");
    }

    /// <summary>nft text of a mark value: <c>0x0000000c</c>.</summary>
    public static string Mark(uint value) => "0x" + value.ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>Merges overlapping and adjacent port ranges (nft interval sets refuse overlapping elements).</summary>
    public static List<(int Start, int End)> MergeRanges(List<(int S, int E)> ranges)
    {
        ranges.Sort();
        var merged = new List<(int, int)>();
        foreach (var (s, e) in ranges)
        {
            if (merged.Count > 0 && s <= merged[^1].Item2 + 1)
            {
                var last = merged[^1];
                merged[^1] = (last.Item1, Math.Max(last.Item2, e));
            }
            else merged.Add((s, e));
        }
        return merged;
    }

    private static bool IsValid(PolicyRule p) =>
        p.SourceTag is >= 1 and <= 0xffff && p.DestinationTag is >= 1 and <= 0xffff &&
        p.Protocol.ToLowerInvariant() is "tcp" or "udp" &&
        IsPort(p.StartPort) && IsPort(p.EndPort) && p.StartPort <= p.EndPort;

    private static bool IsPort(int p) => p is >= 1 and <= 65535;

    private static ImmutableSortedSet<string>.Builder Builder() => ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);

    /// <summary>Parses a CF tag string (hex, e.g. "000C") into its number; 0 when malformed.</summary>
    public static int ParseTag(string? tag) =>
        int.TryParse(tag, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v) && v is >= 1 and <= 0xffff ? v : 0;
}

/// <summary>What the compiler skipped as invalid (counted, exposed as metrics).</summary>
public sealed class CompileStats
{
    public int SkippedPolicies { get; set; }
    public int SkippedContainers { get; set; }
    public int SkippedPortMappings { get; set; }
    /// <summary>Metadata ports outside 1..65535 (not opened to the router).</summary>
    public int SkippedPorts { get; set; }
}
