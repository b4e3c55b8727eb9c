using Weft.Contracts;
using Weft.Server.Policies;

namespace Weft.Server.Storage;

/// <summary>All policies with tags as of <see cref="Revision"/> (the policies kind revision), with indexes by app.</summary>
public sealed class PolicySnapshot
{
    public long Revision { get; }
    /// <summary>The global revision this view is exactly at (for applying the next commit's delta).</summary>
    public long AsOf { get; }
    public PolicyRow[] Rows { get; }
    private readonly Dictionary<string, int[]> _bySource;
    private readonly Dictionary<string, int[]> _byDestination;

    public PolicySnapshot(long revision, PolicyRow[] rows, long asOf = -1)
    {
        Revision = revision;
        AsOf = asOf;
        Rows = rows;
        _bySource = Index(rows, r => r.Source);
        _byDestination = Index(rows, r => r.Destination);
        var tags = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var r in rows)
        {
            tags[r.Source] = r.SourceTag;
            tags[r.Destination] = r.DestinationTag;
        }
        TagByApp = tags;
    }

    /// <summary>Tag of every app that is in a policy.</summary>
    public IReadOnlyDictionary<string, int> TagByApp { get; }

    /// <summary>
    /// The view after <paramref name="chain"/>: consecutive commits, the first directly after
    /// <see cref="AsOf"/>. One pass over the rows however many commits there are.
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
        if (added.Count == 0 && removed.Count == 0) return new PolicySnapshot(last.Policies, Rows, last.Revision, this);
        var rows = new List<PolicyRow>(Rows.Length + added.Count);
        foreach (var r in Rows) if (removed.Count == 0 || !removed.Contains(r.Key)) rows.Add(r);
        rows.AddRange(added);
        return new PolicySnapshot(last.Policies, [.. rows], last.Revision);
    }

    /// <summary>Same rows and indexes as <paramref name="same"/>, at a later revision.</summary>
    private PolicySnapshot(long revision, PolicyRow[] rows, long asOf, PolicySnapshot same)
    {
        Revision = revision;
        AsOf = asOf;
        Rows = rows;
        _bySource = same._bySource;
        _byDestination = same._byDestination;
        TagByApp = same.TagByApp;
    }

    public int CountBySource(string app) => _bySource.TryGetValue(app, out var a) ? a.Length : 0;

    private byte[]?[]? _rowJsonWithTags;

    /// <summary>
    /// Row <paramref name="i"/> serialised with tags (CF's internal shape), computed once per view
    /// on first use: agents' filtered reads become concatenations of cached fragments.
    /// </summary>
    public byte[] RowJsonWithTags(int i, int tagLength)
    {
        var cache = _rowJsonWithTags ??= new byte[]?[Rows.Length];
        return cache[i] ??= PolicyJson.ToBytes(w => PolicyJson.WriteArray(w, [Rows[i]], true, tagLength), 256)[1..^1];
    }

    /// <summary>Like <see cref="ByGuids"/>, the row indexes (ascending).</summary>
    public List<int> IndexesByGuids(IReadOnlyCollection<string> ids)
    {
        var set = new SortedSet<int>();
        foreach (var s in ids)
        {
            if (_bySource.TryGetValue(s, out var a)) set.UnionWith(a);
            if (_byDestination.TryGetValue(s, out var b)) set.UnionWith(b);
        }
        return [.. set];
    }

    /// <summary>CF ByGuids: rows whose source is in <paramref name="sources"/> OR (AND when <paramref name="both"/>) whose destination is in <paramref name="destinations"/>; in store order.</summary>
    public IEnumerable<PolicyRow> ByGuids(IReadOnlyCollection<string> sources, IReadOnlyCollection<string> destinations, bool both)
    {
        if (both)
        {
            var dst = destinations as IReadOnlySet<string> ?? destinations.ToHashSet(StringComparer.Ordinal);
            var idx = new List<int>();
            foreach (var s in sources.Distinct())
                if (_bySource.TryGetValue(s, out var a))
                    foreach (var i in a) if (dst.Contains(Rows[i].Destination)) idx.Add(i);
            idx.Sort();
            return idx.Select(i => Rows[i]);
        }
        var set = new SortedSet<int>();
        foreach (var s in sources) if (_bySource.TryGetValue(s, out var a)) set.UnionWith(a);
        foreach (var d in destinations) if (_byDestination.TryGetValue(d, out var a)) set.UnionWith(a);
        return set.Select(i => Rows[i]);
    }

    private static Dictionary<string, int[]> Index(PolicyRow[] rows, Func<PolicyRow, string> key)
    {
        var lists = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < rows.Length; i++)
        {
            var k = key(rows[i]);
            if (!lists.TryGetValue(k, out var l)) lists[k] = l = [];
            l.Add(i);
        }
        return lists.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
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
