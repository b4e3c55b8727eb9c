using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Weft.Linux.Nft;

namespace Weft.Agent.Policy;

/// <summary>The sets and maps of <c>inet weft</c>, in declaration order (the index into <see cref="DesiredTable.Sets"/>).</summary>
public enum TableSet
{
    /// <summary><c>cells</c>: underlay IPs of cells holding leases.</summary>
    Cells,
    /// <summary><c>containers</c>: (host veth, the only source IP it may use) → the mark its packets carry (its app's tag; 0 when the app has none).</summary>
    Containers,
    /// <summary><c>allow</c>: (tag, local IP, protocol, port).</summary>
    Allow,
    /// <summary><c>allow_ranges</c>: (tag, local IP, protocol, port range), interval set.</summary>
    AllowRanges,
    /// <summary><c>mapped</c>: (protocol, host port) of port mappings.</summary>
    Mapped,
    /// <summary><c>portmap</c>: (protocol, host port) → (container IP, container port).</summary>
    Portmap,
}

/// <summary>
/// One element of one of the table's sets, packed into two integers: cheap equality and hash, no
/// allocation, and a stable order (numeric: addresses in address order, ports in port order). Which
/// fields it holds depends on the set it belongs to (the set is not part of the element):
/// <list type="table">
/// <item><term>cells</term><description>Lo = IPv4 address</description></item>
/// <item><term>containers</term><description>Hi = IPv4 address, Lo = mark (the veth name is derived from the address, <see cref="PolicyCompiler.HostVethName"/>)</description></item>
/// <item><term>allow, allow_ranges</term><description>Hi = mark &lt;&lt; 32 | IPv4, Lo = protocol &lt;&lt; 32 | first port &lt;&lt; 16 | last port</description></item>
/// <item><term>mapped</term><description>Lo = protocol &lt;&lt; 16 | host port</description></item>
/// <item><term>portmap</term><description>Hi = protocol &lt;&lt; 16 | host port, Lo = IPv4 &lt;&lt; 16 | container port</description></item>
/// </list>
/// IPv4 addresses are big-endian integers (10.255.12.2 = 0x0aff0c02). <see cref="TableElements"/>
/// converts to the kernel's bytes, to Weft.Linux.Nft's model and to nft text.
/// </summary>
public readonly record struct TableElement(ulong Hi, ulong Lo) : IComparable<TableElement>
{
    public static TableElement Address(uint ip) => new(0, ip);

    public static TableElement Container(uint ip, uint mark) => new(ip, mark);

    public static TableElement Policy(uint mark, uint ip, byte proto, ushort first, ushort last) =>
        new((ulong)mark << 32 | ip, (ulong)proto << 32 | (ulong)first << 16 | last);

    public static TableElement Mapped(byte proto, ushort hostPort) => new(0, (ulong)proto << 16 | hostPort);

    public static TableElement PortMap(byte proto, ushort hostPort, uint ip, ushort containerPort) =>
        new((ulong)proto << 16 | hostPort, (ulong)ip << 16 | containerPort);

    public int CompareTo(TableElement other)
    {
        var c = Hi.CompareTo(other.Hi);
        return c != 0 ? c : Lo.CompareTo(other.Lo);
    }
}

/// <summary>Conversions of <see cref="TableElement"/>s: kernel bytes, Weft.Linux.Nft's model, nft text.</summary>
public static class TableElements
{
    public const byte Tcp = 6;
    public const byte Udp = 17;

    /// <summary>The set's declaration.</summary>
    public static INftSetLike Declaration(this TableSet set) => DesiredTable.Sets[(int)set];

    /// <summary>The set's name in the table.</summary>
    public static string Name(this TableSet set) => DesiredTable.Sets[(int)set].Name;

    /// <summary>All sets, in declaration order.</summary>
    public static readonly TableSet[] All = Enum.GetValues<TableSet>();

    /// <summary>The IPv4 address as a big-endian integer; false for anything else.</summary>
    public static bool TryIpv4(System.Net.IPAddress ip, out uint value)
    {
        Span<byte> b = stackalloc byte[16];
        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !ip.TryWriteBytes(b, out var n) || n != 4)
        {
            value = 0;
            return false;
        }
        value = BinaryPrimitives.ReadUInt32BigEndian(b);
        return true;
    }

    /// <summary>tcp/udp (any case) as a protocol number; 0 for anything else.</summary>
    public static byte Protocol(string proto) =>
        proto.Equals("tcp", StringComparison.OrdinalIgnoreCase) ? Tcp : proto.Equals("udp", StringComparison.OrdinalIgnoreCase) ? Udp : (byte)0;

    /// <summary>The elements as an element source for <see cref="NftElementBatch"/> (each writes its own kernel bytes).</summary>
    public static INftElementSource Source(TableSet set, IReadOnlyList<TableElement> elements) => new ElementSource(set, elements);

    private sealed class ElementSource(TableSet set, IReadOnlyList<TableElement> elements) : INftElementSource
    {
        public int Count => elements.Count;

        public void Write(int index, Span<byte> key, Span<byte> keyEnd, Span<byte> value) => TableElements.Write(set, elements[index], key, keyEnd, value);
    }

    /// <summary>
    /// Writes the kernel's bytes of <paramref name="e"/> (the layout of <see cref="NftElementBatch.WriteKey"/>:
    /// fields padded to 4 bytes, addresses and ports big-endian, marks in host order except in the
    /// concatenated interval set, where nft stores them big-endian).
    /// </summary>
    public static void Write(TableSet set, TableElement e, Span<byte> key, Span<byte> keyEnd, Span<byte> value)
    {
        key.Clear();
        switch (set)
        {
            case TableSet.Cells:
                BinaryPrimitives.WriteUInt32BigEndian(key, (uint)e.Lo);
                break;
            case TableSet.Containers:
                Encoding.ASCII.GetBytes(PolicyCompiler.HostVethName((uint)e.Hi), key);
                BinaryPrimitives.WriteUInt32BigEndian(key[16..], (uint)e.Hi);
                MemoryMarshal.Write(value, (uint)e.Lo); // mark: host order
                break;
            case TableSet.Allow:
                MemoryMarshal.Write(key, (uint)(e.Hi >> 32));
                PolicyTail(key, e, (ushort)(e.Lo >> 16));
                break;
            case TableSet.AllowRanges:
                BinaryPrimitives.WriteUInt32BigEndian(key, (uint)(e.Hi >> 32));
                PolicyTail(key, e, (ushort)(e.Lo >> 16));
                keyEnd.Clear();
                BinaryPrimitives.WriteUInt32BigEndian(keyEnd, (uint)(e.Hi >> 32));
                PolicyTail(keyEnd, e, (ushort)e.Lo);
                break;
            case TableSet.Mapped:
                key[0] = (byte)(e.Lo >> 16);
                BinaryPrimitives.WriteUInt16BigEndian(key[4..], (ushort)e.Lo);
                break;
            case TableSet.Portmap:
                key[0] = (byte)(e.Hi >> 16);
                BinaryPrimitives.WriteUInt16BigEndian(key[4..], (ushort)e.Hi);
                value.Clear();
                BinaryPrimitives.WriteUInt32BigEndian(value, (uint)(e.Lo >> 16));
                BinaryPrimitives.WriteUInt16BigEndian(value[4..], (ushort)e.Lo);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(set));
        }
    }

    private static void PolicyTail(Span<byte> key, TableElement e, ushort port)
    {
        BinaryPrimitives.WriteUInt32BigEndian(key[4..], (uint)e.Hi);
        key[8] = (byte)(e.Lo >> 32);
        BinaryPrimitives.WriteUInt16BigEndian(key[12..], port);
    }

    /// <summary>
    /// The element from the kernel's bytes (an element dump); false when it is not an element the
    /// agent could have written (a veth name not derived from its IP): such elements are stale.
    /// </summary>
    public static bool TryRead(TableSet set, ReadOnlySpan<byte> key, ReadOnlySpan<byte> keyEnd, ReadOnlySpan<byte> value, out TableElement e)
    {
        e = default;
        switch (set)
        {
            case TableSet.Cells:
                e = TableElement.Address(BinaryPrimitives.ReadUInt32BigEndian(key));
                return true;
            case TableSet.Containers:
            {
                var ip = BinaryPrimitives.ReadUInt32BigEndian(key[16..]);
                Span<byte> want = stackalloc byte[16];
                want.Clear();
                Encoding.ASCII.GetBytes(PolicyCompiler.HostVethName(ip), want);
                if (!key[..16].SequenceEqual(want)) return false;
                e = TableElement.Container(ip, MemoryMarshal.Read<uint>(value));
                return true;
            }
            case TableSet.Allow:
            {
                var port = BinaryPrimitives.ReadUInt16BigEndian(key[12..]);
                e = TableElement.Policy(MemoryMarshal.Read<uint>(key), BinaryPrimitives.ReadUInt32BigEndian(key[4..]), key[8], port, port);
                return true;
            }
            case TableSet.AllowRanges:
                e = TableElement.Policy(BinaryPrimitives.ReadUInt32BigEndian(key), BinaryPrimitives.ReadUInt32BigEndian(key[4..]), key[8],
                    BinaryPrimitives.ReadUInt16BigEndian(key[12..]), BinaryPrimitives.ReadUInt16BigEndian(keyEnd[12..]));
                // Other fields than the port must not be ranges.
                return key[..12].SequenceEqual(keyEnd[..12]);
            case TableSet.Mapped:
                e = TableElement.Mapped(key[0], BinaryPrimitives.ReadUInt16BigEndian(key[4..]));
                return true;
            case TableSet.Portmap:
                e = TableElement.PortMap(key[0], BinaryPrimitives.ReadUInt16BigEndian(key[4..]),
                    BinaryPrimitives.ReadUInt32BigEndian(value), BinaryPrimitives.ReadUInt16BigEndian(value[4..]));
                return true;
            default:
                throw new ArgumentOutOfRangeException(nameof(set));
        }
    }

    /// <summary>The element in Weft.Linux.Nft's model (for nft text: the libnftables fallback and golden files).</summary>
    public static NftElement ToNft(TableSet set, TableElement e) => set switch
    {
        TableSet.Cells => NftElement.Of(NftValue.Ipv4((uint)e.Lo)),
        TableSet.Containers => new NftElement([NftValue.IfName(PolicyCompiler.HostVethName((uint)e.Hi)), NftValue.Ipv4((uint)e.Hi)], [NftValue.Mark((uint)e.Lo)]),
        TableSet.Allow => NftElement.Of(NftValue.Mark((uint)(e.Hi >> 32)), NftValue.Ipv4((uint)e.Hi), NftValue.Protocol((byte)(e.Lo >> 32)), NftValue.Port((ushort)(e.Lo >> 16))),
        TableSet.AllowRanges => NftElement.Of(NftValue.Mark((uint)(e.Hi >> 32)), NftValue.Ipv4((uint)e.Hi), NftValue.Protocol((byte)(e.Lo >> 32)),
            NftValue.PortRange((ushort)(e.Lo >> 16), (ushort)e.Lo)),
        TableSet.Mapped => NftElement.Of(NftValue.Protocol((byte)(e.Lo >> 16)), NftValue.Port((ushort)e.Lo)),
        TableSet.Portmap => new NftElement([NftValue.Protocol((byte)(e.Hi >> 16)), NftValue.Port((ushort)e.Hi)], [NftValue.Ipv4((uint)(e.Lo >> 16)), NftValue.Port((ushort)e.Lo)]),
        _ => throw new ArgumentOutOfRangeException(nameof(set)),
    };

    /// <summary>The element from Weft.Linux.Nft's model; false when the agent could not have written it.</summary>
    public static bool TryFromNft(TableSet set, NftElement element, out TableElement e)
    {
        var decl = set.Declaration();
        Span<byte> key = stackalloc byte[64];
        Span<byte> end = stackalloc byte[64];
        Span<byte> value = stackalloc byte[64];
        var interval = (decl.Flags & NftSetFlags.Interval) != 0;
        var k = NftElementBatch.KeyLength(decl.KeyTypes);
        var v = decl.ValueTypes.Count > 0 ? NftElementBatch.KeyLength(decl.ValueTypes) : 0;
        e = default;
        if ((element.Value is null) != (v == 0)) return false;
        NftElementBatch.WriteKey(key, decl.KeyTypes, element.Key, high: false, interval, decl.Name);
        if (interval) NftElementBatch.WriteKey(end, decl.KeyTypes, element.Key, high: true, interval, decl.Name);
        if (v > 0) NftElementBatch.WriteKey(value, decl.ValueTypes, element.Value!, high: false, bigEndianMarks: false, decl.Name);
        return TryRead(set, key[..k], interval ? end[..k] : default, value[..v], out e);
    }

    /// <summary>nft text of the element: <c>0x00000003 . 10.255.12.2 . tcp . 8080-8085</c> (allow_ranges
    /// always as a range), <c>"w-010255012002" . 10.255.12.2 : 0x00000001</c>.</summary>
    public static string Text(TableSet set, TableElement e) => set switch
    {
        TableSet.Cells => Ip((uint)e.Lo),
        TableSet.Containers => $"\"{PolicyCompiler.HostVethName((uint)e.Hi)}\" . {Ip((uint)e.Hi)} : {PolicyCompiler.Mark((uint)e.Lo)}",
        TableSet.Allow => $"{PolicyCompiler.Mark((uint)(e.Hi >> 32))} . {Ip((uint)e.Hi)} . {Proto((byte)(e.Lo >> 32))} . {(ushort)(e.Lo >> 16)}",
        TableSet.AllowRanges => $"{PolicyCompiler.Mark((uint)(e.Hi >> 32))} . {Ip((uint)e.Hi)} . {Proto((byte)(e.Lo >> 32))} . {(ushort)(e.Lo >> 16)}-{(ushort)e.Lo}",
        TableSet.Mapped => $"{Proto((byte)(e.Lo >> 16))} . {(ushort)e.Lo}",
        TableSet.Portmap => $"{Proto((byte)(e.Hi >> 16))} . {(ushort)e.Hi} : {Ip((uint)(e.Lo >> 16))} . {(ushort)e.Lo}",
        _ => throw new ArgumentOutOfRangeException(nameof(set)),
    };

    /// <summary>Dotted text of a big-endian IPv4 integer.</summary>
    public static string Ip(uint a) => string.Create(CultureInfo.InvariantCulture, $"{a >> 24}.{(a >> 16) & 0xff}.{(a >> 8) & 0xff}.{a & 0xff}");

    private static string Proto(byte p) => p switch { Tcp => "tcp", Udp => "udp", _ => p.ToString(CultureInfo.InvariantCulture) };
}
