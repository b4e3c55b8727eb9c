using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Weft.Linux.Nft;

namespace Weft.Agent.Policy;

/// <summary>
/// The desired content of the agent's one nftables table <c>inet weft</c>: a fixed skeleton (chains and
/// rules that depend only on the cell) plus the elements of its sets and maps, each a packed
/// <see cref="TableElement"/> (text only on demand: <see cref="Text"/>). Two tables with the same skeleton differ only in elements, so a change
/// between them is a list of element deletions and additions (see <see cref="NftScript.Delta"/>).
/// </summary>
public sealed class DesiredTable
{
    /// <summary>Name of the table (family inet).</summary>
    public const string TableName = "weft";

    private static readonly NftDataType[] PolicyKey = [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService];

    /// <summary>Sets and maps of the table, in the order they are declared (Weft.Linux.Nft's model, no elements); indexed by <see cref="TableSet"/>.</summary>
    public static readonly ImmutableArray<INftSetLike> Sets =
    [
        new NftSet("cells", [NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftMap("containers", [NftDataType.IfName, NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None, []),
        new NftSet("allow", PolicyKey, NftSetFlags.None, []),
        new NftSet("allow_ranges", PolicyKey, NftSetFlags.Interval, []),
        new NftSet("mapped", [NftDataType.InetProto, NftDataType.InetService], NftSetFlags.None, []),
        new NftMap("portmap", [NftDataType.InetProto, NftDataType.InetService], [NftDataType.Ipv4Addr, NftDataType.InetService], NftSetFlags.None, []),
    ];

    /// <summary>The table's set and map declarations (no chains), as Weft.Linux.Nft's model.</summary>
    public static readonly NftTable Declarations = new(NftFamily.Inet, TableName, [],
        Sets.OfType<NftSet>().ToArray(), Sets.OfType<NftMap>().ToArray());

    private readonly ImmutableArray<TableElement>[] _elements;
    private IReadOnlyDictionary<string, IReadOnlyList<string>>? _text;

    /// <summary>A table from elements per set in any order (duplicates are dropped); sets not given are empty.</summary>
    public DesiredTable(CellSkeleton cell, IReadOnlyDictionary<TableSet, IEnumerable<TableElement>> elements)
    {
        Cell = cell;
        _elements = new ImmutableArray<TableElement>[Sets.Length];
        foreach (var set in TableElements.All)
        {
            _elements[(int)set] = elements.TryGetValue(set, out var e) ? SortedDistinct(e.ToArray()) : [];
        }
    }

    /// <summary>A table from one array per set (indexed by <see cref="TableSet"/>), sorted here in place.</summary>
    internal DesiredTable(CellSkeleton cell, TableElement[][] elements)
    {
        Cell = cell;
        _elements = new ImmutableArray<TableElement>[Sets.Length];
        for (var i = 0; i < _elements.Length; i++) _elements[i] = SortedDistinct(elements[i]);
    }

    /// <summary>Sorts <paramref name="a"/> in place and drops duplicates.</summary>
    internal static ImmutableArray<TableElement> SortedDistinct(TableElement[] a)
    {
        if (a.Length == 0) return [];
        Array.Sort(a);
        var n = 1;
        for (var i = 1; i < a.Length; i++)
        {
            if (a[i] != a[n - 1]) a[n++] = a[i];
        }
        if (n < a.Length) Array.Resize(ref a, n);
        return ImmutableCollectionsMarshal.AsImmutableArray(a);
    }

    public CellSkeleton Cell { get; }

    /// <summary>The elements of one set or map, sorted (<see cref="TableElement.CompareTo"/>), no duplicates.</summary>
    public ImmutableArray<TableElement> this[TableSet set] => _elements[(int)set];

    /// <summary>Elements per set name as nft text (<see cref="TableElements.Text"/>), in the same order; built on first use
    /// (for /state, logs and tests; the agent itself never needs the text).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Text => _text ??= TableElements.All.ToFrozenDictionary(
        s => s.Name(), s => (IReadOnlyList<string>)_elements[(int)s].Select(e => TableElements.Text(s, e)).ToArray(), StringComparer.Ordinal);

    /// <summary>Total number of elements across all sets and maps.</summary>
    public int ElementCount => _elements.Sum(s => s.Length);

    public bool SameSkeleton(DesiredTable other) => SameSkeleton(Cell, other.Cell);

    public static bool SameSkeleton(CellSkeleton a, CellSkeleton b) =>
        a.CellIp.Equals(b.CellIp) && a.Overlay.Equals(b.Overlay) && a.VethPrefix == b.VethPrefix && a.VxlanPort == b.VxlanPort;

    /// <summary>Same elements in every set.</summary>
    public bool SameElements(DesiredTable other)
    {
        for (var i = 0; i < _elements.Length; i++)
        {
            if (!_elements[i].AsSpan().SequenceEqual(other._elements[i].AsSpan())) return false;
        }
        return true;
    }
}
