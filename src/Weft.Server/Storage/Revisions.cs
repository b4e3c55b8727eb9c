using Weft.Contracts;

namespace Weft.Server.Storage;

/// <summary>
/// The store's revision counter and, per kind of state, the revision of its last change.
/// Every write transaction bumps <see cref="Revision"/>; a kind's revision is set to the new
/// revision when the write changed that kind. A watcher that has seen revision N learns what
/// changed after N by comparing the kind revisions with N.
/// </summary>
public readonly record struct Revisions(long Revision, long Policies, long Leases, long Registry, long PoliciesLastUpdated)
{
    public List<string> ChangedSince(long since, IReadOnlyCollection<string> kinds)
    {
        var changed = new List<string>(3);
        if (since > Revision)
        {
            // The client has seen a future revision (the database was replaced): everything changed.
            foreach (var k in kinds) changed.Add(k);
            return changed;
        }
        if (Policies > since && kinds.Contains(WatchKinds.Policies)) changed.Add(WatchKinds.Policies);
        if (Leases > since && kinds.Contains(WatchKinds.Leases)) changed.Add(WatchKinds.Leases);
        if (Registry > since && kinds.Contains(WatchKinds.Registry)) changed.Add(WatchKinds.Registry);
        return changed;
    }

    public string Encode() => $"{Revision},{Policies},{Leases},{Registry},{PoliciesLastUpdated}";

    public static bool TryDecode(string s, out Revisions r)
    {
        r = default;
        var p = s.Split(',');
        if (p.Length != 5) return false;
        var v = new long[5];
        for (var i = 0; i < 5; i++) if (!long.TryParse(p[i], out v[i])) return false;
        r = new Revisions(v[0], v[1], v[2], v[3], v[4]);
        return true;
    }
}

/// <summary>Which kinds a write changed.</summary>
[Flags]
public enum Changes
{
    None = 0,
    Policies = 1,
    Leases = 2,
    Registry = 4,
    /// <summary>A policy create/delete ran (CF updates policies_last_updated even when it was a no-op).</summary>
    PolicyTouch = 8,
}

/// <summary>
/// In-process broadcast of committed revisions: every waiting watcher wakes as soon as a commit
/// (local, or on another replica through PostgreSQL NOTIFY) is published.
/// </summary>
public sealed class ChangeNotifier
{
    private readonly Lock _lock = new();
    private Revisions _current;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters;

    public Revisions Current { get { lock (_lock) return _current; } }

    public int Waiters => Volatile.Read(ref _waiters);

    /// <summary>Publishes a newer revision and wakes every waiter. Older or equal revisions are ignored.</summary>
    public bool Publish(Revisions r)
    {
        TaskCompletionSource woken;
        lock (_lock)
        {
            if (r.Revision < _current.Revision || r == _current) return false;
            _current = r;
            woken = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        woken.TrySetResult();
        return true;
    }

    /// <summary>The current revisions and a task that completes at the next publish (read atomically).</summary>
    public (Revisions Current, Task Next) Observe()
    {
        lock (_lock) return (_current, _next.Task);
    }

    /// <summary>
    /// Waits until one of <paramref name="kinds"/> changed after <paramref name="since"/>, or the timeout.
    /// Returns the revisions seen last and the changed kinds (empty on timeout).
    /// </summary>
    public async Task<(Revisions Revisions, List<string> Changed)> WaitAsync(long since, IReadOnlyCollection<string> kinds,
        TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        Interlocked.Increment(ref _waiters);
        try
        {
            while (true)
            {
                var (current, next) = Observe();
                var changed = current.ChangedSince(since, kinds);
                if (changed.Count > 0) return (current, changed);
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero || ct.IsCancellationRequested) return (current, changed);
                try
                {
                    await next.WaitAsync(remaining, ct).ConfigureAwait(false);
                }
                catch (TimeoutException) { }
                catch (OperationCanceledException) { return (Current, []); }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }
}
