using Weft.Contracts;
using Weft.Server.Policies;

namespace Weft.Server.Storage;

/// <summary>
/// All policies with tags as of <see cref="Revision"/> (the policies kind revision), in store order,
/// indexed by app. Immutable: a commit produces a new view through <see cref="Apply"/>, which
/// copies arrays but recomputes only the apps the commit touched, and carries each row's
/// serialised JSON fragments over, so a list of everything after a write is a concatenation of
/// fragments of which only the new rows are serialised.
/// </summary>
public sealed class PolicySnapshot
{
    public long Revision { get; }
    /// <summary>The global revision this view is exactly at (for applying the next commit's delta).</summary>
    public long AsOf { get; }
    public PolicyRow[] Rows { get; }

    // Each row's sequence number (ascending, like Rows): stable across Apply, so the indexes by app
    // hold sequence numbers and survive removals elsewhere.
    private readonly long[] _seqs;
    private readonly Dictionary<string, long[]> _bySource;
    private readonly Dictionary<string, long[]> _byDestination;
    private readonly Dictionary<string, int> _tagByApp;
    // Serialised fragments per row (filled on first use, carried over by Apply).
    private readonly byte[]?[] _internal;
    private readonly byte[]?[] _v1;
    private readonly byte[]?[] _v0;

    public PolicySnapshot(long revision, PolicyRow[] rows, long asOf = -1)
    {
        Revision = revision;
        AsOf = asOf;
        Rows = rows;
        _seqs = new long[rows.Length];
        for (var i = 0; i < rows.Length; i++) _seqs[i] = i;
        _bySource = Index(rows, _seqs, r => r.Source);
        _byDestination = Index(rows, _seqs, r => r.Destination);
        _tagByApp = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var r in rows)
        {
            _tagByApp[r.Source] = r.SourceTag;
            _tagByApp[r.Destination] = r.DestinationTag;
        }
        _internal = new byte[rows.Length][];
        _v1 = new byte[rows.Length][];
        _v0 = new byte[rows.Length][];
    }

    private PolicySnapshot(long revision, long asOf, PolicyRow[] rows, long[] seqs, Dictionary<string, long[]> bySource,
        Dictionary<string, long[]> byDestination, Dictionary<string, int> tagByApp, byte[]?[] @internal, byte[]?[] v1, byte[]?[] v0)
    {
        Revision = revision;
        AsOf = asOf;
        Rows = rows;
        _seqs = seqs;
        _bySource = bySource;
        _byDestination = byDestination;
        _tagByApp = tagByApp;
        _internal = @internal;
        _v1 = v1;
        _v0 = v0;
    }

    /// <summary>Tag of every app that is in a policy.</summary>
    public IReadOnlyDictionary<string, int> TagByApp => _tagByApp;

    /// <summary>
    /// The view after <paramref name="chain"/>: consecutive commits, the first directly after
    /// <see cref="AsOf"/>. Array copies plus work proportional to the apps the commits touched.
    /// </summary>
    public PolicySnapshot Apply(IReadOnlyList<StoreCommit> chain)
    {
        if (chain.Count == 0) return this;
        var expected = AsOf;
        var added = new List<PolicyRow>();
        var removed = new HashSet<PolicyKey>();
        foreach (var c in chain)
        {
            if (c.PreviousRevision != expected) throw new InvalidOperationException("commits do not follow this view");
            expected = c.Revisions.Revision;
            foreach (var k in c.Removed)
                if (added.RemoveAll(r => r.Key == k) == 0) removed.Add(k);
            added.AddRange(c.Added);
        }
        var last = chain[^1].Revisions;
        if (added.Count == 0 && removed.Count == 0)
            return new PolicySnapshot(last.Policies, last.Revision, Rows, _seqs, _bySource, _byDestination, _tagByApp, _internal, _v1, _v0);

        // Positions of the removed rows (through the source index).
        var removedPos = new List<int>(removed.Count);
        foreach (var k in removed)
            if (_bySource.TryGetValue(k.Source, out var seqs))
                foreach (var q in seqs)
                {
                    var i = Position(q);
                    if (Rows[i].Key == k) { removedPos.Add(i); break; }
                }
        removedPos.Sort();

        var n = Rows.Length - removedPos.Count + added.Count;
        var rows = new PolicyRow[n];
        var seqsNew = new long[n];
        var internalNew = new byte[n][];
        var v1New = new byte[n][];
        var v0New = new byte[n][];
        var removedSeqs = new HashSet<long>();
        int from = 0, to = 0;
        foreach (var p in removedPos.Append(Rows.Length))
        {
            var len = p - from;
            Array.Copy(Rows, from, rows, to, len);
            Array.Copy(_seqs, from, seqsNew, to, len);
            Array.Copy(_internal, from, internalNew, to, len);
            Array.Copy(_v1, from, v1New, to, len);
            Array.Copy(_v0, from, v0New, to, len);
            to += len;
            if (p < Rows.Length) removedSeqs.Add(_seqs[p]);
            from = p + 1;
        }
        var nextSeq = _seqs.Length == 0 ? 0 : _seqs[^1] + 1;
        var addedBySource = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        var addedByDestination = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        foreach (var r in added)
        {
            rows[to] = r;
            seqsNew[to] = nextSeq;
            (CollectionsMarshal(addedBySource, r.Source)).Add(nextSeq);
            (CollectionsMarshal(addedByDestination, r.Destination)).Add(nextSeq);
            to++;
            nextSeq++;
        }

        // Indexes: copy, then recompute the touched apps only.
        var bySource = new Dictionary<string, long[]>(_bySource, StringComparer.Ordinal);
        var byDestination = new Dictionary<string, long[]>(_byDestination, StringComparer.Ordinal);
        var tags = new Dictionary<string, int>(_tagByApp, StringComparer.Ordinal);
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var k in removed) { touched.Add(k.Source); touched.Add(k.Destination); }
        foreach (var r in added) { touched.Add(r.Source); touched.Add(r.Destination); }
        foreach (var app in touched)
        {
            Update(bySource, app, removedSeqs, addedBySource);
            Update(byDestination, app, removedSeqs, addedByDestination);
            if (!bySource.ContainsKey(app) && !byDestination.ContainsKey(app)) tags.Remove(app);
        }
        foreach (var r in added)
        {
            tags[r.Source] = r.SourceTag;
            tags[r.Destination] = r.DestinationTag;
        }
        return new PolicySnapshot(last.Policies, last.Revision, rows, seqsNew, bySource, byDestination, tags, internalNew, v1New, v0New);

        static List<long> CollectionsMarshal(Dictionary<string, List<long>> d, string key) =>
            d.TryGetValue(key, out var l) ? l : d[key] = [];

        static void Update(Dictionary<string, long[]> index, string app, HashSet<long> removedSeqs, Dictionary<string, List<long>> addedSeqs)
        {
            index.TryGetValue(app, out var old);
            addedSeqs.TryGetValue(app, out var plus);
            var list = new List<long>((old?.Length ?? 0) + (plus?.Count ?? 0));
            if (old is not null) foreach (var q in old) if (!removedSeqs.Contains(q)) list.Add(q);
            if (plus is not null) list.AddRange(plus);
            if (list.Count == 0) index.Remove(app);
            else index[app] = [.. list];
        }
    }

    private int Position(long seq)
    {
        var seqs = _seqs;
        // Sequence numbers are positions until a removal shifts the rows after it.
        if (seq < seqs.Length && seqs[seq] == seq) return (int)seq;
        int lo = 0, hi = seqs.Length - 1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            var v = seqs[mid];
            if (v == seq) return mid;
            if (v < seq) lo = mid + 1;
            else hi = mid - 1;
        }
        throw new InvalidOperationException("index refers to a missing row");
    }

    public int CountBySource(string app) => _bySource.TryGetValue(app, out var a) ? a.Length : 0;

    /// <summary>Row <paramref name="i"/> in CF's internal shape (with tags), serialised once per row.</summary>
    public byte[] RowJsonWithTags(int i, int tagLength) =>
        _internal[i] ??= PolicyJson.RowBytes(Rows[i], true, tagLength, false);

    /// <summary>Row <paramref name="i"/> in the external shape (no tags); v0 is null for a port range (v0 lists drop them).</summary>
    public byte[]? RowJsonExternal(int i, bool v0)
    {
        if (!v0) return _v1[i] ??= PolicyJson.RowBytes(Rows[i], false, 0, false);
        if (Rows[i].Start != Rows[i].End) return null;
        return _v0[i] ??= PolicyJson.RowBytes(Rows[i], false, 0, true);
    }

    private byte[]? _listInternal, _listV1, _listV0;

    /// <summary>The whole list response (CF's shape), built once per view from the row fragments.</summary>
    public byte[] ListBytes(bool withTags, int tagLength, bool v0)
    {
        ref var slot = ref withTags ? ref _listInternal : ref v0 ? ref _listV0 : ref _listV1;
        if (Volatile.Read(ref slot) is { } done) return done;
        lock (_listLock)
        {
            if (slot is { } again) return again;
            slot = BuildList(withTags, tagLength, v0);
            return slot;
        }
    }

    private readonly Lock _listLock = new();

    private byte[] BuildList(bool withTags, int tagLength, bool v0)
    {
        PolicyJson.FillFragments(Rows, withTags ? _internal : v0 ? _v0 : _v1, withTags, tagLength, v0);
        var parts = new byte[]?[Rows.Length];
        long size = 0;
        var count = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            var f = withTags ? RowJsonWithTags(i, tagLength) : RowJsonExternal(i, v0);
            parts[i] = f;
            if (f is null) continue;
            size += f.Length + 1;
            count++;
        }
        return PolicyJson.Concat(count, parts, size);
    }

    /// <summary>CF ByGuids with OR (policies whose source or destination is one of <paramref name="ids"/>): row positions, ascending.</summary>
    public List<int> IndexesByGuids(IReadOnlyCollection<string> ids)
    {
        var seqs = new List<long>();
        foreach (var s in ids)
        {
            if (_bySource.TryGetValue(s, out var a)) seqs.AddRange(a);
            if (_byDestination.TryGetValue(s, out var b)) seqs.AddRange(b);
        }
        return Positions(seqs);
    }

    private List<int> Positions(List<long> seqs)
    {
        seqs.Sort();
        var result = new List<int>(seqs.Count);
        long prev = -1;
        foreach (var q in seqs)
        {
            if (q == prev) continue;
            prev = q;
            result.Add(Position(q));
        }
        return result;
    }

    /// <summary>CF ByGuids: rows whose source is in <paramref name="sources"/> OR (AND when <paramref name="both"/>) whose destination is in <paramref name="destinations"/>; in store order.</summary>
    public IEnumerable<PolicyRow> ByGuids(IReadOnlyCollection<string> sources, IReadOnlyCollection<string> destinations, bool both)
    {
        var seqs = new List<long>();
        if (both)
        {
            var dst = destinations as IReadOnlySet<string> ?? destinations.ToHashSet(StringComparer.Ordinal);
            foreach (var s in sources)
                if (_bySource.TryGetValue(s, out var a))
                    foreach (var q in a) if (dst.Contains(Rows[Position(q)].Destination)) seqs.Add(q);
        }
        else
        {
            foreach (var s in sources) if (_bySource.TryGetValue(s, out var a)) seqs.AddRange(a);
            foreach (var d in destinations) if (_byDestination.TryGetValue(d, out var a)) seqs.AddRange(a);
        }
        return Positions(seqs).Select(i => Rows[i]);
    }

    private static Dictionary<string, long[]> Index(PolicyRow[] rows, long[] seqs, Func<PolicyRow, string> key)
    {
        var lists = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        for (var i = 0; i < rows.Length; i++)
        {
            var k = key(rows[i]);
            if (!lists.TryGetValue(k, out var l)) lists[k] = l = [];
            l.Add(seqs[i]);
        }
        var index = new Dictionary<string, long[]>(lists.Count, StringComparer.Ordinal);
        foreach (var (k, l) in lists) index[k] = [.. l];
        return index;
    }
}

/// <summary>A stored lease and when it was last renewed (unix seconds).</summary>
public readonly record struct LeaseRow(string UnderlayIp, string OverlaySubnet, string OverlayHardwareAddr, long LastRenewedAt)
{
    public Lease ToContract() => new() { UnderlayIp = UnderlayIp, OverlaySubnet = OverlaySubnet, OverlayHardwareAddr = OverlayHardwareAddr };
}

/// <summary>Every stored lease (active or not) as of <see cref="Revision"/>.</summary>
public sealed record LeaseSnapshot(long Revision, LeaseRow[] Rows)
{
    public IEnumerable<LeaseRow> Active(long nowUnix, long expirySeconds) => Rows.Where(r => r.LastRenewedAt + expirySeconds > nowUnix);
}

/// <summary>Every registered cell and its containers as of <see cref="Revision"/>.</summary>
public sealed class RegistrySnapshot
{
    public long Revision { get; }
    public IReadOnlyList<CellRegistration> Cells { get; }

    public RegistrySnapshot(long revision, IReadOnlyList<CellRegistration> cells)
    {
        Revision = revision;
        Cells = cells;
    }
}

/// <summary>
/// What one committed write transaction changed in the policies, announced by the store right
/// after the commit so that in-memory views can follow without reloading.
/// </summary>
public sealed record StoreCommit(long PreviousRevision, Revisions Revisions, IReadOnlyList<PolicyRow> Added, IReadOnlyList<PolicyKey> Removed);
