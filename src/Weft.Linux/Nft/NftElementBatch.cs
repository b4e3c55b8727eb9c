using System.Buffers.Binary;
using System.Text;

namespace Weft.Linux.Nft;

/// <summary>
/// Elements of one set or map that write their own kernel bytes (the layout of
/// <see cref="NftElementBatch.WriteKey"/>): for callers that keep elements in a packed form of their own
/// and should not build an <see cref="NftElement"/> per element.
/// </summary>
public interface INftElementSource
{
    int Count { get; }

    /// <summary>
    /// Writes element <paramref name="index"/>: its key into <paramref name="key"/> (exactly
    /// <see cref="NftElementBatch.KeyLength"/> of the key types), for interval sets the high end into
    /// <paramref name="keyEnd"/> (empty otherwise), for maps its value into <paramref name="value"/>
    /// (empty for sets). Padding bytes must be written as zeros.
    /// </summary>
    void Write(int index, Span<byte> key, Span<byte> keyEnd, Span<byte> value);
}

/// <summary>
/// Set-element changes encoded as one nf_tables netlink batch (what libnftables sends for
/// <c>add element</c> / <c>delete element</c>, without its parser and evaluator): NFNL_MSG_BATCH_BEGIN,
/// NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM messages of at most ~64 KiB of elements each, NFNL_MSG_BATCH_END.
/// The kernel commits the whole batch or nothing. Send it with <see cref="NftNetlink.Commit"/>.
/// </summary>
/// <remarks>
/// Encoding (include/uapi/linux/netfilter/nf_tables.h): each element is NFTA_LIST_ELEM { NFTA_SET_ELEM_KEY
/// { NFTA_DATA_VALUE key }, [NFTA_SET_ELEM_KEY_END { NFTA_DATA_VALUE high key }] (concatenated interval
/// sets), [NFTA_SET_ELEM_DATA { NFTA_DATA_VALUE value }] (maps) }. A concatenated key is its fields
/// each padded with zeros to a multiple of 4 bytes (one nft register). Byte order: addresses and ports
/// big-endian, <c>mark</c> host order (little-endian here; big-endian in concatenated interval sets), <c>inet_proto</c> one byte, <c>ifname</c> 16
/// bytes NUL-padded — what nft 1.0.6 sends (verified with <c>nft --debug=netlink</c>, root tests read
/// the elements back).
/// </remarks>
public sealed class NftElementBatch
{
    // nfnetlink / nf_tables constants (uapi).
    internal const ushort NFNL_SUBSYS_NFTABLES = 10;
    internal const ushort NFNL_MSG_BATCH_BEGIN = 0x10;
    internal const ushort NFNL_MSG_BATCH_END = 0x11;
    internal const ushort NFT_MSG_NEWSETELEM = 12;
    internal const ushort NFT_MSG_DELSETELEM = 14;
    internal const ushort NFTA_SET_ELEM_LIST_TABLE = 1;
    internal const ushort NFTA_SET_ELEM_LIST_SET = 2;
    internal const ushort NFTA_SET_ELEM_LIST_ELEMENTS = 3;
    internal const ushort NFTA_LIST_ELEM = 1;
    internal const ushort NFTA_SET_ELEM_KEY = 1;
    internal const ushort NFTA_SET_ELEM_DATA = 2;
    internal const ushort NFTA_SET_ELEM_KEY_END = 10;
    internal const ushort NFTA_DATA_VALUE = 1;

    /// <summary>Elements per message stay below this many bytes (a nested attribute's length is 16 bits).</summary>
    public const int MaxElementBytes = 60 * 1024;

    private readonly List<Op> _ops = [];

    private sealed record Op(ushort Type, NftFamily Family, string Table, INftSetLike Set, INftElementSource Elements);

    /// <summary>Number of elements added or deleted so far.</summary>
    public int Count { get; private set; }

    public bool IsEmpty => Count == 0;

    /// <summary>Adds elements to a set or map (adding one that is there is not an error).</summary>
    public NftElementBatch Add(NftFamily family, string table, INftSetLike set, IReadOnlyList<NftElement> elements) =>
        Append(NFT_MSG_NEWSETELEM, family, table, set, new ModelElements(set, elements));

    /// <summary>Deletes elements (one that is not there fails the batch with ENOENT).</summary>
    public NftElementBatch Delete(NftFamily family, string table, INftSetLike set, IReadOnlyList<NftElement> elements) =>
        Append(NFT_MSG_DELSETELEM, family, table, set, new ModelElements(set, elements));

    /// <summary>Adds elements that write their own kernel bytes (no <see cref="NftElement"/> per element).</summary>
    public NftElementBatch Add(NftFamily family, string table, INftSetLike set, INftElementSource elements) =>
        Append(NFT_MSG_NEWSETELEM, family, table, set, elements);

    /// <summary>Deletes elements that write their own kernel bytes.</summary>
    public NftElementBatch Delete(NftFamily family, string table, INftSetLike set, INftElementSource elements) =>
        Append(NFT_MSG_DELSETELEM, family, table, set, elements);

    private NftElementBatch Append(ushort type, NftFamily family, string table, INftSetLike set, INftElementSource elements)
    {
        NftName.Validate(table, nameof(table));
        KeyLength(set.KeyTypes);
        if (set.ValueTypes.Count > 0) KeyLength(set.ValueTypes);
        if ((set.Flags & NftSetFlags.Interval) != 0 && set.KeyTypes.Count < 2)
            throw new NotSupportedException($"set {set.Name}: single-field interval sets are not encoded (use NftBatch)");
        if (elements.Count == 0) return this;
        _ops.Add(new Op(type, family, table, set, elements));
        Count += elements.Count;
        return this;
    }

    /// <summary>
    /// The batch's bytes with sequence numbers from <paramref name="firstSeq"/> (BATCH_BEGIN) on;
    /// <paramref name="acks"/> element messages follow with <paramref name="firstSeq"/>+1.., each asking
    /// for an ACK; BATCH_END has <paramref name="firstSeq"/>+acks+1.
    /// </summary>
    public byte[] Encode(uint firstSeq, out int acks)
    {
        var w = NetlinkWriter.Pooled(4096 + Count * 64);
        try
        {
            uint seq = firstSeq;
            acks = 0;
            Header(ref w, NFNL_MSG_BATCH_BEGIN, 0, seq++, 0, NFNL_SUBSYS_NFTABLES);
            w.EndMessage();
            Span<byte> key = stackalloc byte[64];
            Span<byte> end = stackalloc byte[64];
            Span<byte> value = stackalloc byte[64];
            foreach (var op in _ops)
            {
                var set = op.Set;
                bool interval = (set.Flags & NftSetFlags.Interval) != 0;
                int keyLen = KeyLength(set.KeyTypes);
                int valueLen = set.ValueTypes.Count > 0 ? KeyLength(set.ValueTypes) : 0;
                int i = 0;
                while (i < op.Elements.Count)
                {
                    ushort flags = (ushort)(Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | (op.Type == NFT_MSG_NEWSETELEM ? Nl.NLM_F_CREATE : 0));
                    Header(ref w, (ushort)(NFNL_SUBSYS_NFTABLES << 8 | op.Type), flags, seq++, Proto(op.Family), 0);
                    acks++;
                    w.AttrString(NFTA_SET_ELEM_LIST_TABLE, op.Table);
                    w.AttrString(NFTA_SET_ELEM_LIST_SET, set.Name);
                    int list = w.BeginNested(NFTA_SET_ELEM_LIST_ELEMENTS);
                    int start = w.Length;
                    do
                    {
                        op.Elements.Write(i++, key[..keyLen], interval ? end[..keyLen] : default, value[..valueLen]);
                        int elem = w.BeginNested(NFTA_LIST_ELEM);
                        Data(ref w, NFTA_SET_ELEM_KEY, key[..keyLen]);
                        if (interval) Data(ref w, NFTA_SET_ELEM_KEY_END, end[..keyLen]);
                        if (valueLen > 0) Data(ref w, NFTA_SET_ELEM_DATA, value[..valueLen]);
                        w.EndNested(elem);
                    }
                    while (i < op.Elements.Count && w.Length - start < MaxElementBytes);
                    w.EndNested(list);
                    w.EndMessage();
                }
            }
            Header(ref w, NFNL_MSG_BATCH_END, 0, seq, 0, NFNL_SUBSYS_NFTABLES);
            w.EndMessage();
            return w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>Elements in Weft.Linux.Nft's model, written with <see cref="WriteKey"/>.</summary>
    private sealed class ModelElements(INftSetLike set, IReadOnlyList<NftElement> elements) : INftElementSource
    {
        public int Count => elements.Count;

        public void Write(int index, Span<byte> key, Span<byte> keyEnd, Span<byte> value)
        {
            var e = elements[index];
            bool interval = !keyEnd.IsEmpty;
            WriteKey(key, set.KeyTypes, e.Key, high: false, interval, set.Name);
            if (interval) WriteKey(keyEnd, set.KeyTypes, e.Key, high: true, interval, set.Name);
            if (!value.IsEmpty)
            {
                if (e.Value is null) throw new ArgumentException($"map {set.Name}: element {e} has no value");
                WriteKey(value, set.ValueTypes, e.Value, high: false, bigEndianMarks: false, set.Name);
            }
            else if (e.Value is not null) throw new ArgumentException($"set {set.Name}: element {e} has a value");
        }
    }

    private static void Header(ref NetlinkWriter w, ushort type, ushort flags, uint seq, byte family, ushort resId)
    {
        w.BeginMessage(type, flags == 0 ? Nl.NLM_F_REQUEST : flags, seq);
        // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big-endian).
        Span<byte> g = [family, 0, (byte)(resId >> 8), (byte)resId];
        w.WriteBytes(g);
    }

    /// <summary>NFPROTO_* of a family (linux/netfilter.h).</summary>
    internal static byte Proto(NftFamily f) => f switch
    {
        NftFamily.Inet => 1,
        NftFamily.Ip => 2,
        NftFamily.Arp => 3,
        NftFamily.Netdev => 5,
        NftFamily.Bridge => 7,
        NftFamily.Ip6 => 10,
        _ => throw new ArgumentOutOfRangeException(nameof(f)),
    };

    private static void Data(ref NetlinkWriter w, ushort type, scoped ReadOnlySpan<byte> value)
    {
        int nest = w.BeginNested(type);
        w.Attr(NFTA_DATA_VALUE, value);
        w.EndNested(nest);
    }

    /// <summary>Bytes of one field of type <paramref name="t"/> before padding.</summary>
    public static int FieldLength(NftDataType t) => t switch
    {
        NftDataType.Ipv4Addr => 4,
        NftDataType.Ipv6Addr => 16,
        NftDataType.Mark => 4,
        NftDataType.InetProto => 1,
        NftDataType.InetService => 2,
        NftDataType.IfName => 16,
        _ => throw new NotSupportedException($"type {t} is not encoded as set data"),
    };

    /// <summary>Length of a (concatenated) key: each field padded to 4 bytes.</summary>
    public static int KeyLength(IReadOnlyList<NftDataType> types)
    {
        int n = 0;
        foreach (var t in types) n += (FieldLength(t) + 3) & ~3;
        return n;
    }

    /// <summary>
    /// Writes the kernel's bytes of a (concatenated) key or value: each field in its byte order,
    /// padded with zeros to 4 bytes; <paramref name="high"/> writes the high end of ranges.
    /// <paramref name="bigEndianMarks"/>: nft stores host-order fields (<c>mark</c>) big-endian in
    /// concatenated interval sets (its rules convert <c>meta mark</c> with a byteorder expression
    /// before the lookup), host order everywhere else.
    /// </summary>
    public static int WriteKey(Span<byte> dst, IReadOnlyList<NftDataType> types, IReadOnlyList<NftValue> values, bool high, bool bigEndianMarks, string set = "")
    {
        if (values.Count != types.Count) throw new ArgumentException($"set {set}: {values.Count} fields for a key of {types.Count}");
        int pos = 0;
        for (int f = 0; f < types.Count; f++)
        {
            var t = types[f];
            var v = values[f];
            if (v.Type != t) throw new ArgumentException($"set {set}: field {f + 1} is {v.Type}, the set wants {t}");
            int len = FieldLength(t);
            int padded = (len + 3) & ~3;
            var d = dst.Slice(pos, padded);
            d.Clear();
            var x = high ? v.High : v.Low;
            switch (t)
            {
                case NftDataType.Ipv4Addr: BinaryPrimitives.WriteUInt32BigEndian(d, (uint)x); break;
                case NftDataType.Ipv6Addr: BinaryPrimitives.WriteUInt128BigEndian(d, x); break;
                case NftDataType.Mark:
                    if (bigEndianMarks) BinaryPrimitives.WriteUInt32BigEndian(d, (uint)x);
                    else System.Runtime.InteropServices.MemoryMarshal.Write(d, (uint)x); // host order
                    break;
                case NftDataType.InetProto: d[0] = (byte)x; break;
                case NftDataType.InetService: BinaryPrimitives.WriteUInt16BigEndian(d, (ushort)x); break;
                case NftDataType.IfName: Encoding.ASCII.GetBytes(v.Text!, d); break;
            }
            pos += padded;
        }
        return pos;
    }

    /// <summary>
    /// Reads a (concatenated) key or value written as <see cref="WriteKey"/> writes it; with
    /// <paramref name="high"/> (an interval set's NFTA_SET_ELEM_KEY_END) fields whose ends differ become ranges.
    /// </summary>
    public static NftValue[] ReadKey(ReadOnlySpan<byte> src, IReadOnlyList<NftDataType> types, bool bigEndianMarks, ReadOnlySpan<byte> high = default)
    {
        if (src.Length != KeyLength(types) || (!high.IsEmpty && high.Length != src.Length))
            throw new NetlinkFormatException($"element key of {src.Length} bytes for a key of {KeyLength(types)}");
        var values = new NftValue[types.Count];
        int pos = 0;
        for (int f = 0; f < types.Count; f++)
        {
            var t = types[f];
            int padded = (FieldLength(t) + 3) & ~3;
            var lo = Field(t, src.Slice(pos, padded), bigEndianMarks);
            values[f] = lo;
            if (!high.IsEmpty && t != NftDataType.IfName)
            {
                var hi = Field(t, high.Slice(pos, padded), bigEndianMarks);
                if (hi != lo) values[f] = NftValue.Range(t, lo, hi);
            }
            pos += padded;
        }
        return values;
    }

    private static NftValue Field(NftDataType t, ReadOnlySpan<byte> d, bool bigEndianMarks) => t switch
    {
        NftDataType.Ipv4Addr => NftValue.Single(t, BinaryPrimitives.ReadUInt32BigEndian(d)),
        NftDataType.Ipv6Addr => NftValue.Single(t, BinaryPrimitives.ReadUInt128BigEndian(d)),
        NftDataType.Mark => NftValue.Single(t, bigEndianMarks ? BinaryPrimitives.ReadUInt32BigEndian(d) : System.Runtime.InteropServices.MemoryMarshal.Read<uint>(d)),
        NftDataType.InetProto => NftValue.Single(t, d[0]),
        NftDataType.InetService => NftValue.Single(t, BinaryPrimitives.ReadUInt16BigEndian(d)),
        NftDataType.IfName => NftValue.IfName(Encoding.ASCII.GetString(d[..(d.IndexOf((byte)0) is var z and >= 0 ? z : d.Length)])),
        _ => throw new NotSupportedException($"type {t}"),
    };
}
