namespace Weft.Contracts;

/// <summary>The kinds of state a watch reports as changed.</summary>
public static class WatchKinds
{
    public const string Policies = "policies";
    public const string Leases = "leases";
    public const string Registry = "registry";
    public static readonly string[] All = [Policies, Leases, Registry];
}

/// <summary>
/// Response of GET /weft/v1/watch?since=N: the current revision and which kinds changed after
/// revision N (empty when the long-poll timed out with no change).
/// </summary>
public sealed class WatchResponse
{
    public long Revision { get; set; }
    public List<string> Changed { get; set; } = [];
}

/// <summary>Response of GET /weft/v1/snapshot: everything an agent needs, as of <see cref="Revision"/> or newer.</summary>
public sealed class SnapshotResponse
{
    public long Revision { get; set; }
    /// <summary>Policies with tags (all, or those touching the app_ids asked for).</summary>
    public List<Policy> Policies { get; set; } = [];
    /// <summary>All active leases.</summary>
    public List<Lease> Leases { get; set; } = [];
    /// <summary>Every registered cell with its containers.</summary>
    public List<CellRegistration> Cells { get; set; } = [];
    /// <summary>Cluster-wide overlay IP → app (and tag) map.</summary>
    public List<IpOwner> Ips { get; set; } = [];
}
