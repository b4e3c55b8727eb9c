using Weft.Contracts;
using Weft.Server.Policies;

namespace Weft.Server.Storage;

public enum DbEngine { Sqlite, Postgres }

/// <summary>
/// The control plane's state: policies and tags, subnet leases, the container registry.
/// Every write runs in one transaction that bumps the revision and is published to
/// <see cref="Notifier"/> once committed (and, with PostgreSQL, to the other replicas).
/// </summary>
public interface IStore : IAsyncDisposable
{
    DbEngine Engine { get; }
    ChangeNotifier Notifier { get; }

    /// <summary>Raised after every commit of this process, in revision order for SQLite (not necessarily for PostgreSQL).</summary>
    event Action<StoreCommit>? Committed;

    /// <summary>Runs pending migrations, populates the tag table, starts change listening.</summary>
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>SELECT 1.</summary>
    Task<bool> PingAsync(CancellationToken ct = default);

    /// <summary>
    /// The committed revisions this replica knows, from memory: SQLite has one writer (this
    /// process); with PostgreSQL every commit of every replica arrives by NOTIFY on the LISTEN
    /// connection (checked against the database every second). While that connection is down the
    /// revisions are read from the database.
    /// </summary>
    ValueTask<Revisions> ReadRevisionsAsync(CancellationToken ct = default);

    /// <summary>Creates policies in one transaction; existing ones are no-ops. Throws <see cref="TagsExhaustedException"/>.</summary>
    Task CreatePoliciesAsync(IReadOnlyList<PolicyKey> policies, CancellationToken ct = default);

    /// <summary>Deletes policies in one transaction; missing ones are no-ops. Frees unreferenced tags.</summary>
    Task DeletePoliciesAsync(IReadOnlyList<PolicyKey> policies, CancellationToken ct = default);

    /// <summary>Deletes every policy of apps that left the registry more than <paramref name="grace"/> ago; returns them.</summary>
    Task<List<PolicyRow>> CleanupStalePoliciesAsync(TimeSpan grace, CancellationToken ct = default);

    Task<PolicySnapshot> LoadPoliciesAsync(CancellationToken ct = default);

    /// <summary>All allocated tags, lowest first.</summary>
    Task<List<TagEntry>> ListTagsAsync(CancellationToken ct = default);

    /// <summary>Get-or-create the tag of (id, type).</summary>
    Task<TagEntry> GetOrCreateTagAsync(string id, string type, CancellationToken ct = default);

    /// <summary>Silk acquire: the existing lease of the underlay IP, or a new random free one; null when the pool is exhausted.</summary>
    Task<Lease?> AcquireLeaseAsync(string underlayIp, bool singleOverlayIp, CancellationToken ct = default);

    /// <summary>Silk renew: inserts when missing, throws <see cref="LeaseConflictException"/> on mismatch.</summary>
    Task RenewLeaseAsync(Lease lease, CancellationToken ct = default);

    Task ReleaseLeaseAsync(string underlayIp, CancellationToken ct = default);

    Task<LeaseSnapshot> LoadLeasesAsync(CancellationToken ct = default);

    /// <summary>Replaces the cell's containers; returns the revision after the write.</summary>
    Task<long> PutCellAsync(string cellId, CellRegistrationRequest registration, CancellationToken ct = default);

    Task<long> DeleteCellAsync(string cellId, CancellationToken ct = default);

    Task<RegistrySnapshot> LoadRegistryAsync(CancellationToken ct = default);
}

/// <summary>Every tag (1..2^(8·tag_length)−1) is assigned.</summary>
public sealed class TagsExhaustedException(int capacity)
    : Exception($"all {capacity} tags are in use; delete policies to free tags of apps that are in no policy")
{
    public int Capacity { get; } = capacity;
}

/// <summary>Silk's NonRetriableError on renew (validation failure or lease mismatch): HTTP 409.</summary>
public sealed class LeaseConflictException(string message) : Exception(message);
