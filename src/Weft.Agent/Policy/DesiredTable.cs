using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using Weft.Linux.Nft;

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

    private static readonly NftDataType[] PolicyKey = [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService];

    /// <summary>Sets and maps of the table, in the order they are declared (Weft.Linux.Nft's model, no elements).</summary>
    public static readonly ImmutableArray<INftSetLike> Sets =
    [
        new NftSet("cells", [NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftMap("src_tag", [NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None, []),
        new NftSet("allow", PolicyKey, NftSetFlags.None, []),
        new NftSet("allow_ranges", PolicyKey, NftSetFlags.Interval, []),
        new NftSet("local_ips", [NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftSet("veths", [NftDataType.IfName, NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftSet("mapped", [NftDataType.InetProto, NftDataType.InetService], NftSetFlags.None, []),
        new NftMap("portmap", [NftDataType.InetProto, NftDataType.InetService], [NftDataType.Ipv4Addr, NftDataType.InetService], NftSetFlags.None, []),
    ];

    /// <summary>The table's set and map declarations (no chains), as Weft.Linux.Nft's model.</summary>
    public static readonly NftTable Declarations = new(NftFamily.Inet, TableName, [],
        Sets.OfType<NftSet>().ToArray(), Sets.OfType<NftMap>().ToArray());

    public DesiredTable(CellSkeleton cell, IReadOnlyDictionary<string, ImmutableSortedSet<string>> elements)
    {
        Cell = cell;
        var d = new Dictionary<string, ImmutableSortedSet<string>>(StringComparer.Ordinal);
        foreach (var set in Sets)
        {
            d[set.Name] = elements.TryGetValue(set.Name, out var e) ? e : ImmutableSortedSet.Create<string>(StringComparer.Ordinal);
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

    /// <summary>
    /// The element in Weft.Linux.Nft's model from its canonical text (as <see cref="PolicyCompiler"/>
    /// writes it: <c>0x00000003 . 10.255.12.2 . tcp . 8080-8085</c>, <c>10.255.12.3 : 0x00000001</c>,
    /// <c>"w-010255012002" . 10.255.12.2</c>).
    /// </summary>
    public static NftElement ToNft(INftSetLike set, string element)
    {
        var colon = element.IndexOf(" : ", StringComparison.Ordinal);
        var key = Fields(set.KeyTypes, colon < 0 ? element : element[..colon], element);
        if (set.ValueTypes.Count == 0)
        {
            if (colon >= 0) throw new FormatException($"set {set.Name}: '{element}' has a value");
            return new NftElement(key);
        }
        if (colon < 0) throw new FormatException($"map {set.Name}: '{element}' has no value");
        return new NftElement(key, Fields(set.ValueTypes, element[(colon + 3)..], element));
    }

    private static NftValue[] Fields(IReadOnlyList<NftDataType> types, string text, string element)
    {
        var values = new NftValue[types.Count];
        var rest = text.AsSpan();
        for (var i = 0; i < values.Length; i++)
        {
            var sep = rest.IndexOf(" . ", StringComparison.Ordinal);
            if ((sep < 0) != (i == values.Length - 1)) throw new FormatException($"'{element}': {types.Count} fields expected");
            var p = sep < 0 ? rest : rest[..sep];
            rest = sep < 0 ? default : rest[(sep + 3)..];
            values[i] = types[i] switch
            {
                NftDataType.Ipv4Addr => NftValue.Ipv4(Ipv4(p, element)),
                NftDataType.Mark when p.StartsWith("0x") => NftValue.Mark(uint.Parse(p[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)),
                NftDataType.InetProto => p is "tcp" ? NftValue.Tcp : p is "udp" ? NftValue.Udp : NftValue.Protocol(p.ToString()),
                NftDataType.InetService => p.IndexOf('-') is var dash and > 0
                    ? NftValue.PortRange(ushort.Parse(p[..dash], CultureInfo.InvariantCulture), ushort.Parse(p[(dash + 1)..], CultureInfo.InvariantCulture))
                    : NftValue.Port(ushort.Parse(p, CultureInfo.InvariantCulture)),
                NftDataType.IfName => NftValue.IfName(p.Trim('"').ToString()),
                _ => throw new FormatException($"'{element}': field {i + 1} ({types[i]})"),
            };
        }
        return values;
    }

    private static uint Ipv4(ReadOnlySpan<char> s, string element)
    {
        if (!IPAddress.TryParse(s, out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new FormatException($"'{element}': '{s}' is not an IPv4 address");
        Span<byte> b = stackalloc byte[4];
        a.TryWriteBytes(b, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    /// <summary>The canonical text of an element read back from the kernel (inverse of <see cref="ToNft"/>).</summary>
    public static string FromNft(INftSetLike set, NftElement e)
    {
        var interval = (set.Flags & NftSetFlags.Interval) != 0;
        var key = Text(e.Key, interval);
        return e.Value is null ? key : key + " : " + Text(e.Value, false);
    }

    private static string Text(IReadOnlyList<NftValue> values, bool lastAsRange)
    {
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0) sb.Append(" . ");
            var v = values[i];
            switch (v.Type)
            {
                case NftDataType.Mark: sb.Append(PolicyCompiler.Mark((uint)v.Low)); break;
                case NftDataType.InetService when lastAsRange && i == values.Count - 1:
                    sb.Append((ushort)v.Low).Append('-').Append((ushort)v.High); break;
                default: sb.Append(v.ToString()); break;
            }
        }
        return sb.ToString();
    }
}
