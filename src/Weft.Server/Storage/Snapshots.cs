using Weft.Contracts;
using Weft.Server.Policies;

namespace Weft.Server.Storage;

/// <summary>All policies with tags as of <see cref="Revision"/> (the policies kind revision), with indexes by app.</summary>
public sealed class PolicySnapshot
{
    public long Revision { get; }
    public PolicyRow[] Rows { get; }
    private readonly Dictionary<string, int[]> _bySource;
    private readonly Dictionary<string, int[]> _byDestination;

    public PolicySnapshot(long revision, PolicyRow[] rows)
    {
        Revision = revision;
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

    public int CountBySource(string app) => _bySource.TryGetValue(app, out var a) ? a.Length : 0;

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
