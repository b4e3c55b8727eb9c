using System.Collections.Frozen;
using System.Collections.Immutable;

namespace Weft.Agent.Policy;

/// <summary>
/// The desired content of the agent's one nftables table <c>inet weft</c>: a fixed skeleton (chains and
/// rules that depend only on the cell) plus the elements of its sets and maps, each element in its
/// canonical nft text form. Two tables with the same skeleton differ only in elements, so a change
/// between them is a list of element deletions and additions (see <see cref="NftScript.Delta"/>).
/// </summary>
public sealed class DesiredTable
{
    /// <summary>Name of the table (family inet).</summary>
    public const string TableName = "weft";

    /// <summary>Sets and maps of the table, in the order they are declared, with their nft type clause.</summary>
    public static readonly ImmutableArray<(string Name, string Kind, string Type, string? Flags)> Sets =
    [
        ("cells", "set", "ipv4_addr", null),
        ("src_tag", "map", "ipv4_addr : mark", null),
        ("allow", "set", "mark . ipv4_addr . inet_proto . inet_service", null),
        ("allow_ranges", "set", "mark . ipv4_addr . inet_proto . inet_service", "interval"),
        ("local_ips", "set", "ipv4_addr", null),
        ("veths", "set", "ifname . ipv4_addr", null),
        ("mapped", "set", "inet_proto . inet_service", null),
        ("portmap", "map", "inet_proto . inet_service : ipv4_addr . inet_service", null),
    ];

    public DesiredTable(CellSkeleton cell, IReadOnlyDictionary<string, ImmutableSortedSet<string>> elements)
    {
        Cell = cell;
        var d = new Dictionary<string, ImmutableSortedSet<string>>(StringComparer.Ordinal);
        foreach (var (name, _, _, _) in Sets)
        {
            d[name] = elements.TryGetValue(name, out var e) ? e : ImmutableSortedSet.Create<string>(StringComparer.Ordinal);
        }
        Elements = d.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public CellSkeleton Cell { get; }

    /// <summary>Elements per set name (every name of <see cref="Sets"/> is present).</summary>
    public FrozenDictionary<string, ImmutableSortedSet<string>> Elements { get; }

    /// <summary>Total number of elements across all sets and maps.</summary>
    public int ElementCount => Elements.Values.Sum(s => s.Count);

    public bool SameSkeleton(DesiredTable other) =>
        Cell.CellIp.Equals(other.Cell.CellIp) && Cell.Overlay.Equals(other.Cell.Overlay) &&
        Cell.VethPrefix == other.Cell.VethPrefix && Cell.VxlanPort == other.Cell.VxlanPort;
}
