namespace Weft.Linux.Nft;

/// <summary>Turns one set element's kernel bytes (key, interval high end or empty, map value or empty) into a <typeparamref name="T"/>.</summary>
public delegate T NftElementReader<T>(ReadOnlySpan<byte> key, ReadOnlySpan<byte> keyEnd, ReadOnlySpan<byte> value);

/// <summary>
/// An nf_tables netlink socket (NETLINK_NETFILTER) in one network namespace, for element batches
/// encoded by <see cref="NftElementBatch"/>: the fast path for large element lists, which
/// libnftables spends most of its time parsing and evaluating. Like a <see cref="NftContext"/> the
/// socket stays in the namespace it was opened in and may then be used from any thread.
/// </summary>
public sealed class NftNetlink : IDisposable
{
    /// <summary>NETLINK_NETFILTER.</summary>
    public const int Protocol = 12;

    private readonly NetlinkSocket _socket;
    private readonly Lock _lock = new();
    private uint _seq = (uint)Environment.TickCount;

    private NftNetlink(NetlinkSocket socket) => _socket = socket;

    /// <summary>Opens the socket in <paramref name="ns"/>, or in the calling thread's namespace when null.</summary>
    public static NftNetlink Open(NetNs? ns = null) => new(NetlinkSocket.Open(ns, Protocol));

    /// <summary>
    /// Sends the batch as one nf_tables transaction and waits for the kernel's answer to every
    /// message. Throws <see cref="NetlinkException"/> with the kernel's errno (ENOENT: a missing table,
    /// set or deleted element; EINVAL: a key that does not fit the set; EEXIST…); then nothing was applied.
    /// </summary>
    public void Commit(NftElementBatch batch)
    {
        if (batch.IsEmpty) return;
        lock (_lock)
        {
            uint first = _seq;
            var bytes = batch.Encode(first, out int acks);
            uint last = first + (uint)acks + 1; // BATCH_END
            _seq = last + 2;                    // after RequestBatch's NOOP
            _socket.RequestBatch(bytes, first, last, "nft element batch");
        }
    }

    /// <summary>
    /// A digest of a table's structure read with nf_tables dumps (GETCHAIN, GETRULE, GETSET — no
    /// elements, so its cost does not grow with the sets): each chain's name, type, hook, priority,
    /// policy and flags; each rule's chain, expressions (as the kernel holds them) and user data
    /// (comment), in order; each set's name, flags, key and data types and lengths, description and
    /// user data. Handles, use counts and counters are left out, so two tables built from the same
    /// definition have the same digest, and a rule deleted, replaced or added by hand changes it.
    /// Chains for which <paramref name="includeChain"/> is false are left out with their rules.
    /// Null when the table does not exist.
    /// </summary>
    public NftStructure? TryReadStructure(NftFamily family, string table, Func<string, bool>? includeChain = null)
    {
        NftName.Validate(table, nameof(table));
        byte proto = NftElementBatch.Proto(family);
        try
        {
            _socket.Request<int>(Get(NFT_MSG_GETTABLE, proto, NFTA_TABLE_NAME, table, dump: false), (in NetlinkMessage m, out int v) => { v = 0; return true; }, "nft get table");
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
        {
            return null;
        }
        // The kernel filters rule and set dumps by table, not chain dumps.
        var chains = _socket.Dump<(string Table, string Name, byte[] Bytes)>(Get(NFT_MSG_GETCHAIN, proto, NFTA_CHAIN_TABLE, table, dump: true), ParseChain, "nft dump chains")
            .Where(c => c.Table == table).Select(c => (c.Name, c.Bytes)).ToList();
        var rules = _socket.Dump<(string Chain, byte[] Bytes)>(Get(NFT_MSG_GETRULE, proto, NFTA_RULE_TABLE, table, dump: true), ParseRule, "nft dump rules");
        var sets = _socket.Dump<(string Name, byte[] Bytes)>(Get(NFT_MSG_GETSET, proto, NFTA_SET_TABLE, table, dump: true), ParseSet, "nft dump sets");
        bool Included(string chain) => includeChain is null || includeChain(chain);
        using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (name, bytes) in chains.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            if (!Included(name)) continue;
            h.AppendData(bytes);
            foreach (var (chain, rule) in rules)
            {
                if (chain == name) h.AppendData(rule);
            }
        }
        foreach (var set in sets.OrderBy(s => s.Name, StringComparer.Ordinal)) h.AppendData(set.Bytes);
        var digest = Convert.ToHexStringLower(h.GetHashAndReset().AsSpan(0, 16));
        return new NftStructure(digest, chains.Select(c => c.Name).ToArray(), sets.Select(s => s.Name).ToArray());
    }

    /// <summary>
    /// The elements of a set or map as the kernel holds them (an NFT_MSG_GETSETELEM dump decoded with
    /// the set's types; no libnftables, so no JSON of the whole set). Throws
    /// <see cref="NetlinkException"/> ENOENT when the table or set does not exist.
    /// </summary>
    public List<NftElement> ListElements(NftFamily family, string table, INftSetLike set)
    {
        bool interval = (set.Flags & NftSetFlags.Interval) != 0;
        return ListElements(family, table, set, (key, end, data) =>
        {
            var k = NftElementBatch.ReadKey(key, set.KeyTypes, interval, interval ? end : default);
            return set.ValueTypes.Count > 0 ? new NftElement(k, NftElementBatch.ReadKey(data, set.ValueTypes, false)) : new NftElement(k);
        });
    }

    /// <summary>
    /// The elements of a set or map, each turned into a <typeparamref name="T"/> by <paramref name="read"/>
    /// from its kernel bytes (key; for interval sets the high end; for maps the value: the layout of
    /// <see cref="NftElementBatch.WriteKey"/>). Catch-all elements are left out.
    /// </summary>
    public List<T> ListElements<T>(NftFamily family, string table, INftSetLike set, NftElementReader<T> read)
    {
        NftName.Validate(table, nameof(table));
        bool interval = (set.Flags & NftSetFlags.Interval) != 0;
        if (interval && set.KeyTypes.Count < 2) throw new NotSupportedException($"set {set.Name}: single-field interval sets are not decoded");
        var w = NetlinkWriter.Pooled(128);
        byte[] request;
        try
        {
            w.BeginMessage((ushort)(NftElementBatch.NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETSETELEM), 0);
            w.WriteBytes([NftElementBatch.Proto(family), 0, 0, 0]);
            w.AttrString(NftElementBatch.NFTA_SET_ELEM_LIST_TABLE, table);
            w.AttrString(NftElementBatch.NFTA_SET_ELEM_LIST_SET, set.Name);
            w.EndMessage();
            request = w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
        int keyLen = NftElementBatch.KeyLength(set.KeyTypes);
        int valueLen = set.ValueTypes.Count > 0 ? NftElementBatch.KeyLength(set.ValueTypes) : 0;
        var pages = _socket.Dump(request, (in NetlinkMessage m, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out List<T> list) =>
        {
            list = [];
            var all = list;
            foreach (var a in m.Attributes<NfGenMsg>())
            {
                if (a.Type != NftElementBatch.NFTA_SET_ELEM_LIST_ELEMENTS) continue;
                foreach (var e in a.Nested())
                {
                    ReadOnlySpan<byte> key = default, end = default, data = default;
                    foreach (var x in e.Nested())
                    {
                        switch (x.Type)
                        {
                            case NftElementBatch.NFTA_SET_ELEM_KEY: key = DataValue(x.Value); break;
                            case NftElementBatch.NFTA_SET_ELEM_KEY_END: end = DataValue(x.Value); break;
                            case NftElementBatch.NFTA_SET_ELEM_DATA: data = DataValue(x.Value); break;
                        }
                    }
                    if (key.IsEmpty) continue; // a catch-all element
                    if (key.Length != keyLen || (interval && end.Length != keyLen) || data.Length != valueLen)
                        throw new NetlinkFormatException($"set {set.Name}: element of {key.Length}/{end.Length}/{data.Length} bytes, expected {keyLen}/{(interval ? keyLen : 0)}/{valueLen}");
                    all.Add(read(key, interval ? end : default, data));
                }
            }
            return true;
        }, "nft dump set elements");
        if (pages.Count == 1) return pages[0];
        var result = new List<T>(pages.Sum(p => p.Count));
        foreach (var p in pages) result.AddRange(p);
        return result;
    }

    private static ReadOnlySpan<byte> DataValue(ReadOnlySpan<byte> nest)
    {
        foreach (var v in new NetlinkAttributes(nest))
        {
            if (v.Type == NftElementBatch.NFTA_DATA_VALUE) return v.Value;
        }
        return default;
    }

    private const ushort NFT_MSG_GETSETELEM = 13;
    private const ushort NFT_MSG_GETTABLE = 1;
    private const ushort NFT_MSG_GETCHAIN = 4;
    private const ushort NFT_MSG_GETRULE = 7;
    private const ushort NFT_MSG_GETSET = 10;
    private const ushort NFTA_TABLE_NAME = 1;
    private const ushort NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3, NFTA_CHAIN_HOOK = 4, NFTA_CHAIN_POLICY = 5, NFTA_CHAIN_TYPE = 7, NFTA_CHAIN_FLAGS = 9;
    private const ushort NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2, NFTA_RULE_EXPRESSIONS = 4, NFTA_RULE_USERDATA = 7;
    private const ushort NFTA_SET_TABLE = 1, NFTA_SET_NAME = 2, NFTA_SET_FLAGS = 3, NFTA_SET_KEY_TYPE = 4, NFTA_SET_KEY_LEN = 5,
        NFTA_SET_DATA_TYPE = 6, NFTA_SET_DATA_LEN = 7, NFTA_SET_DESC = 9, NFTA_SET_USERDATA = 13;

    private static byte[] Get(ushort msg, byte family, ushort tableAttr, string table, bool dump)
    {
        var w = NetlinkWriter.Pooled(128);
        try
        {
            w.BeginMessage((ushort)(NftElementBatch.NFNL_SUBSYS_NFTABLES << 8 | msg), 0);
            w.WriteBytes([family, 0, 0, 0]);
            w.AttrString(tableAttr, table);
            w.EndMessage();
            return w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
    }

    /// <summary>The attributes listed, each as type + raw bytes, in a canonical order.</summary>
    private static byte[] Pick(in NetlinkMessage m, ReadOnlySpan<ushort> types, out string? name, ushort nameAttr)
    {
        name = null;
        var buf = new List<byte>();
        foreach (ushort t in types)
        {
            foreach (var a in m.Attributes<NfGenMsg>())
            {
                if (a.Type != t) continue;
                if (t == nameAttr) name = a.String();
                buf.Add((byte)t);
                buf.Add((byte)(a.Value.Length >> 8));
                buf.Add((byte)a.Value.Length);
                buf.AddRange(a.Value);
            }
        }
        return buf.ToArray();
    }

    private static bool ParseChain(in NetlinkMessage m, out (string Table, string Name, byte[] Bytes) v)
    {
        var bytes = Pick(m, [NFTA_CHAIN_NAME, NFTA_CHAIN_HOOK, NFTA_CHAIN_POLICY, NFTA_CHAIN_TYPE, NFTA_CHAIN_FLAGS], out var name, NFTA_CHAIN_NAME);
        Pick(m, [NFTA_CHAIN_TABLE], out var table, NFTA_CHAIN_TABLE);
        v = (table ?? "", name ?? "", bytes);
        return name is not null;
    }

    private static bool ParseRule(in NetlinkMessage m, out (string Chain, byte[] Bytes) v)
    {
        var bytes = Pick(m, [NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS, NFTA_RULE_USERDATA], out var chain, NFTA_RULE_CHAIN);
        v = (chain ?? "", bytes);
        return chain is not null;
    }

    private static bool ParseSet(in NetlinkMessage m, out (string Name, byte[] Bytes) v)
    {
        var bytes = Pick(m, [NFTA_SET_NAME, NFTA_SET_FLAGS, NFTA_SET_KEY_TYPE, NFTA_SET_KEY_LEN, NFTA_SET_DATA_TYPE, NFTA_SET_DATA_LEN, NFTA_SET_DESC, NFTA_SET_USERDATA], out var name, NFTA_SET_NAME);
        v = (name ?? "", bytes);
        return name is not null;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct NfGenMsg
    {
        public byte Family;
        public byte Version;
        public ushort ResId;
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>What <see cref="NftNetlink.TryReadStructure"/> found: the digest and the names of every chain and set.</summary>
public sealed record NftStructure(string Digest, IReadOnlyList<string> Chains, IReadOnlyList<string> Sets);
