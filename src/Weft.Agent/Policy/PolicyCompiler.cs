using System.Globalization;
using System.Net;

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

    /// <summary>
    /// The whole desired table, straight from the inputs (the reference: <see cref="IncrementalTable"/>
    /// must always hold what this computes from the same inputs).
    /// </summary>
    public static DesiredTable Compute(PolicyInputs inputs, CompileStats? stats = null)
    {
        stats ??= new CompileStats();
        var cells = new List<TableElement>();
        foreach (var ip in inputs.CellUnderlayIps)
        {
            if (TableElements.TryIpv4(ip, out var v)) cells.Add(TableElement.Address(v));
        }

        // Tag of every app that appears in a policy (either end); an app given several tags (not
        // something the server does) takes the smallest, whatever the order of the policies.
        var tagOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var valid = new List<PolicyRule>(inputs.Policies.Count);
        foreach (var p in inputs.Policies)
        {
            if (!IsValid(p)) { stats.SkippedPolicies++; continue; }
            valid.Add(p);
            MinTag(tagOf, p.SourceApp, p.SourceTag);
            MinTag(tagOf, p.DestinationApp, p.DestinationTag);
        }
        // The router's containers send with the router tag even when no policy names the router.
        var router = ResolveRouter(inputs.Router, valid);
        if (router is not null) tagOf.TryAdd(router.AppId, router.Tag);

        var marksOf = new Dictionary<uint, (uint Min, uint Max)>(); // container IP → the marks its records give
        // An address whose records' apps send with different tags is in doubt: it sends untagged and
        // receives nothing by policy or router port (fail closed both ways) until one record goes.
        bool Conflicting(uint ip) => marksOf.TryGetValue(ip, out var m) && m.Min != m.Max;
        var mapped = new List<TableElement>();
        var portmap = new List<TableElement>();
        var byApp = new Dictionary<string, List<(LocalContainer C, uint Ip)>>(StringComparer.Ordinal);
        var seenHostPorts = new HashSet<(byte, int)>();
        foreach (var c in inputs.Containers.OrderBy(c => c.ContainerId, StringComparer.Ordinal).ThenBy(c => c.IfName, StringComparer.Ordinal))
        {
            // The veth name goes into the containers map (anti-spoofing): only the exact name weft-cni
            // derives from the IP (never a quote, a wildcard or an over-long name).
            if (!IsValid(c, out var ip)) { stats.SkippedContainers++; continue; }
            var mark = tagOf.TryGetValue(c.AppId, out var tag) ? (uint)tag : 0;
            ref var m = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(marksOf, ip, out var known);
            m = known ? (Math.Min(m.Min, mark), Math.Max(m.Max, mark)) : (mark, mark);
            if (!byApp.TryGetValue(c.AppId, out var list)) byApp[c.AppId] = list = [];
            list.Add((c, ip));
            foreach (var pm in c.PortMappings)
            {
                var proto = TableElements.Protocol(pm.Protocol);
                if (proto == 0 || !IsPort(pm.HostPort) || !IsPort(pm.ContainerPort)) { stats.SkippedPortMappings++; continue; }
                if (!seenHostPorts.Add((proto, pm.HostPort))) { stats.SkippedPortMappings++; continue; } // first container wins
                mapped.Add(TableElement.Mapped(proto, (ushort)pm.HostPort));
                portmap.Add(TableElement.PortMap(proto, (ushort)pm.HostPort, ip, (ushort)pm.ContainerPort));
            }
        }

        // allow: (source tag, local destination IP, protocol) → merged port ranges.
        var ranges = new Dictionary<(int Tag, uint Ip, byte Proto), List<(int S, int E)>>();
        foreach (var p in valid)
        {
            if (!byApp.TryGetValue(p.DestinationApp, out var dsts)) continue;
            foreach (var (_, ip) in dsts)
            {
                if (Conflicting(ip)) continue;
                var key = (p.SourceTag, ip, TableElements.Protocol(p.Protocol));
                if (!ranges.TryGetValue(key, out var l)) ranges[key] = l = [];
                l.Add((p.StartPort, p.EndPort));
            }
        }
        // Overlay ingress: the router's tag may reach each local container's metadata ports (TCP, as
        // CF's policy agent does); merged with policy ranges of the same (tag, IP, protocol).
        if (router is not null)
        {
            foreach (var (c, ip) in byApp.Values.SelectMany(l => l))
            {
                var doubt = Conflicting(ip);
                foreach (var port in c.Ports)
                {
                    if (!IsPort(port)) { stats.SkippedPorts++; continue; }
                    if (doubt) continue;
                    var key = (router.Tag, ip, TableElements.Tcp);
                    if (!ranges.TryGetValue(key, out var l)) ranges[key] = l = [];
                    l.Add((port, port));
                }
            }
        }

        var allow = new List<TableElement>();
        var allowRanges = new List<TableElement>();
        foreach (var ((tag, ip, proto), list) in ranges)
        {
            foreach (var (s, e) in MergeRanges(list))
            {
                // One port: a hash set (an element change needs no read of the set, unlike an
                // interval set). A range: the interval set.
                (s == e ? allow : allowRanges).Add(TableElement.Policy((uint)tag, ip, proto, (ushort)s, (ushort)e));
            }
        }

        var sets = new TableElement[DesiredTable.Sets.Length][];
        sets[(int)TableSet.Cells] = cells.ToArray();
        sets[(int)TableSet.Containers] = marksOf.Select(kv => TableElement.Container(kv.Key, AddressMark(kv.Value.Min, kv.Value.Max))).ToArray();
        stats.ConflictingAddresses = marksOf.Keys.Count(Conflicting);
        sets[(int)TableSet.Allow] = allow.ToArray();
        sets[(int)TableSet.AllowRanges] = allowRanges.ToArray();
        sets[(int)TableSet.Mapped] = mapped.ToArray();
        sets[(int)TableSet.Portmap] = portmap.ToArray();
        return new DesiredTable(inputs.Cell, sets);
    }

    /// <summary>The mark of an address whose records give marks <paramref name="min"/>..<paramref name="max"/>: theirs when they agree, else 0.</summary>
    internal static uint AddressMark(uint min, uint max) => min == max ? min : 0;

    private static void MinTag(Dictionary<string, int> tagOf, string app, int tag)
    {
        ref var t = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(tagOf, app, out var exists);
        if (!exists || tag < t) t = tag;
    }

    /// <summary>
    /// The overlay ingress router as enforced: the tag the (valid) policies give its id, if any (current
    /// by definition; the smallest if several), else the one asked for; none when that tag is not
    /// 1..65535 or another app in the policies holds it (ingress is then left out rather than opened
    /// to that app).
    /// </summary>
    public static IngressRouter? ResolveRouter(IngressRouter? asked, IEnumerable<PolicyRule> validPolicies)
    {
        if (asked is null || asked.AppId.Length == 0) return null;
        var id = asked.AppId;
        var named = 0;
        foreach (var p in validPolicies)
        {
            if (p.SourceApp == id && (named == 0 || p.SourceTag < named)) named = p.SourceTag;
            if (p.DestinationApp == id && (named == 0 || p.DestinationTag < named)) named = p.DestinationTag;
        }
        var tag = named != 0 ? named : asked.Tag;
        if (tag is < 1 or > 0xffff) return null;
        foreach (var p in validPolicies)
        {
            if ((p.SourceTag == tag && p.SourceApp != id) || (p.DestinationTag == tag && p.DestinationApp != id)) return null;
        }
        return new IngressRouter(id, tag);
    }

    /// <summary>A container the table can name: IPv4, and the host veth name weft-cni derives from the IP.</summary>
    public static bool IsValid(LocalContainer c, out uint ip) =>
        TableElements.TryIpv4(c.Ip, out ip) && c.HostVeth == HostVethName(ip);

    /// <summary>weft-cni's host veth name for a container IPv4: <c>w-</c> + the four octets zero-padded
    /// (10.255.12.2 → <c>w-010255012002</c>, 14 characters), as Weft.Cni's Naming.HostVeth.</summary>
    public static string HostVethName(IPAddress ip) =>
        HostVethName(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes()));

    /// <summary><see cref="HostVethName(IPAddress)"/> of a big-endian IPv4 integer.</summary>
    public static string HostVethName(uint ip) =>
        string.Create(CultureInfo.InvariantCulture, $"w-{ip >> 24:D3}{(ip >> 16) & 0xff:D3}{(ip >> 8) & 0xff:D3}{ip & 0xff:D3}");

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

    /// <summary>A policy the table can express: tags 1..65535, tcp or udp, ports 1..65535, start ≤ end.</summary>
    public static bool IsValid(PolicyRule p) =>
        p.SourceTag is >= 1 and <= 0xffff && p.DestinationTag is >= 1 and <= 0xffff &&
        TableElements.Protocol(p.Protocol) != 0 &&
        IsPort(p.StartPort) && IsPort(p.EndPort) && p.StartPort <= p.EndPort;

    internal static bool IsPort(int p) => p is >= 1 and <= 65535;

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
    /// <summary>Local addresses named by records whose apps send with different tags (they send untagged and receive nothing by policy).</summary>
    public int ConflictingAddresses { get; set; }
}
