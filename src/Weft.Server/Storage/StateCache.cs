namespace Weft.Server.Storage;

/// <summary>
/// In-memory views of the store, each tagged with the revision of its kind and reloaded (one load
/// at a time) when a read finds a newer committed revision. Reads between writes cost a revision
/// check and no query; serialised responses are cached per view.
/// </summary>
public sealed class StateCache
{
    private readonly IStore store;
    private readonly Cached<PolicySnapshot> _policies;
    private readonly Cached<LeaseSnapshot> _leases;
    private readonly Cached<RegistrySnapshot> _registry;

    // Commits of this process not yet folded into the policy view, by the revision they follow.
    private readonly Lock _pendingLock = new();
    private readonly SortedDictionary<long, StoreCommit> _pending = new();
    private const int MaxPending = 100_000;

    public StateCache(IStore store)
    {
        this.store = store;
        _policies = new(ct => store.LoadPoliciesAsync(ct), p => p.Revision, Advance);
        _leases = new(ct => store.LoadLeasesAsync(ct), l => l.Revision);
        _registry = new(ct => store.LoadRegistryAsync(ct), r => r.Revision);
        store.Committed += OnCommitted;
    }

    public IStore Store => store;

    private void OnCommitted(StoreCommit c)
    {
        lock (_pendingLock)
        {
            _pending[c.PreviousRevision] = c;
            if (_pending.Count > MaxPending) _pending.Clear(); // nobody reads: the next read reloads
        }
    }

    /// <summary>Folds the pending commits that directly follow <paramref name="view"/> into a new view (no database read).</summary>
    private PolicySnapshot? Advance(PolicySnapshot view)
    {
        List<StoreCommit> chain = [];
        lock (_pendingLock)
        {
            // Forget what the view already contains.
            while (_pending.Count > 0 && _pending.First().Key < view.AsOf) _pending.Remove(_pending.First().Key);
            var at = view.AsOf;
            while (_pending.Remove(at, out var c)) { chain.Add(c); at = c.Revisions.Revision; }
        }
        return chain.Count == 0 ? null : view.Apply(chain);
    }

    public async ValueTask<(Revisions Revisions, PolicySnapshot Policies)> PoliciesAsync(CancellationToken ct = default)
    {
        var revs = await store.ReadRevisionsAsync(ct).ConfigureAwait(false);
        return (revs, await _policies.GetAsync(revs.Policies).ConfigureAwait(false));
    }

    /// <summary>
    /// The policy view when it is already current (no waiting, no allocation): the hot path of
    /// agents' reads. Null when a newer revision has to be loaded or folded in first.
    /// </summary>
    public PolicySnapshot? CurrentPolicies()
    {
        var t = store.ReadRevisionsAsync();
        if (!t.IsCompletedSuccessfully) return null;
        return _policies.Last is { } v && v.Revision >= t.Result.Policies ? v : null;
    }

    public async ValueTask<(Revisions Revisions, LeaseSnapshot Leases)> LeasesAsync(CancellationToken ct = default)
    {
        var revs = await store.ReadRevisionsAsync(ct).ConfigureAwait(false);
        return (revs, await _leases.GetAsync(revs.Leases).ConfigureAwait(false));
    }

    public async ValueTask<(Revisions Revisions, RegistrySnapshot Registry)> RegistryAsync(CancellationToken ct = default)
    {
        var revs = await store.ReadRevisionsAsync(ct).ConfigureAwait(false);
        return (revs, await _registry.GetAsync(revs.Registry).ConfigureAwait(false));
    }

    /// <summary>All three views, each at least as new as the returned revisions.</summary>
    public async ValueTask<(Revisions, PolicySnapshot, LeaseSnapshot, RegistrySnapshot)> AllAsync(CancellationToken ct = default)
    {
        var revs = await store.ReadRevisionsAsync(ct).ConfigureAwait(false);
        var p = _policies.GetAsync(revs.Policies);
        var l = _leases.GetAsync(revs.Leases);
        var r = _registry.GetAsync(revs.Registry);
        return (revs, await p.ConfigureAwait(false), await l.ConfigureAwait(false), await r.ConfigureAwait(false));
    }

    /// <summary>The last loaded policy view, without checking for newer revisions (for gauges).</summary>
    public PolicySnapshot? LastPolicies => _policies.Last;
    public LeaseSnapshot? LastLeases => _leases.Last;

    private sealed class Cached<T>(Func<CancellationToken, Task<T>> load, Func<T, long> revisionOf, Func<T, T?>? advance = null) where T : class
    {
        private readonly Lock _lock = new();
        private T? _value;
        private Task<T>? _loading;

        public T? Last => Volatile.Read(ref _value);

        public ValueTask<T> GetAsync(long wanted)
        {
            var v = Volatile.Read(ref _value);
            return v is not null && revisionOf(v) >= wanted ? ValueTask.FromResult(v) : new ValueTask<T>(SlowAsync(wanted));
        }

        private async Task<T> SlowAsync(long wanted)
        {
            while (true)
            {
                Task<T> task;
                lock (_lock)
                {
                    if (_value is { } v && revisionOf(v) >= wanted) return v;
                    if (_value is { } old && _loading is null && advance?.Invoke(old) is { } advanced)
                    {
                        _value = advanced;
                        if (revisionOf(advanced) >= wanted) return advanced;
                    }
                    task = _loading ??= Task.Run(LoadAndStoreAsync);
                }
                var loaded = await task.ConfigureAwait(false);
                if (revisionOf(loaded) >= wanted) return loaded;
                // That load started before the wanted revision committed: load again.
            }
        }

        private async Task<T> LoadAndStoreAsync()
        {
            try
            {
                var loaded = await load(CancellationToken.None).ConfigureAwait(false);
                lock (_lock)
                {
                    if (_value is null || revisionOf(loaded) >= revisionOf(_value)) _value = loaded;
                    _loading = null;
                }
                return loaded;
            }
            catch
            {
                lock (_lock) _loading = null;
                throw;
            }
        }
    }
}
