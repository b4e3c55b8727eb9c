namespace Weft.Agent.Runtime;

/// <summary>
/// A coalescing reconcile loop (the shape of YARP's WorkQueue and felix's dataplane loop): any number
/// of <see cref="Trigger"/> calls while a pass is pending or running collapse into one more pass; a
/// failed pass is retried with exponential backoff; with no triggers a full pass still runs every
/// <c>resync</c> as a safety net. The reconcile function always works from the latest state, so
/// coalescing loses nothing.
/// </summary>
public sealed class ReconcileLoop
{
    private readonly Func<ReconcileReason, CancellationToken, Task<bool>> _reconcile;
    private readonly TimeSpan _resync;
    private readonly TimeSpan _minBackoff;
    private readonly TimeSpan _maxBackoff;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private int _pending;
    private int _running;
    private long _passes;
    private long _failures;

    /// <param name="reconcile">One pass; returns false (or throws) on failure, which schedules a retry.</param>
    public ReconcileLoop(Func<ReconcileReason, CancellationToken, Task<bool>> reconcile, TimeSpan resync,
        TimeSpan? minBackoff = null, TimeSpan? maxBackoff = null)
    {
        _reconcile = reconcile;
        _resync = resync;
        _minBackoff = minBackoff ?? TimeSpan.FromMilliseconds(50);
        _maxBackoff = maxBackoff ?? TimeSpan.FromSeconds(5);
    }

    public long Passes => Interlocked.Read(ref _passes);
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>True when no pass is running and none is asked for: every trigger so far has been served
    /// by a pass that started after it (or the loop has not started; a retry after a failed pass may still be due).</summary>
    public bool Idle => Volatile.Read(ref _pending) == 0 && Volatile.Read(ref _running) == 0;

    /// <summary>Asks for a pass soon. Cheap, thread-safe, never blocks; repeated calls coalesce.</summary>
    public void Trigger()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            try { _signal.Release(); } catch (SemaphoreFullException) { }
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.Zero;
        var reason = ReconcileReason.Start;
        while (!ct.IsCancellationRequested)
        {
            Volatile.Write(ref _running, 1); // before clearing _pending: Idle is never true in between
            Interlocked.Exchange(ref _pending, 0);
            bool ok;
            try { ok = await _reconcile(reason, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception) { ok = false; }
            Interlocked.Increment(ref _passes);
            Volatile.Write(ref _running, 0);
            if (!ok)
            {
                Interlocked.Increment(ref _failures);
                backoff = backoff == TimeSpan.Zero ? _minBackoff : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _maxBackoff.Ticks));
            }
            else backoff = TimeSpan.Zero;

            var wait = ok ? _resync : backoff;
            bool signalled;
            try { signalled = await _signal.WaitAsync(wait, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            reason = signalled ? ReconcileReason.Triggered : ok ? ReconcileReason.Resync : ReconcileReason.Retry;
        }
    }
}

public enum ReconcileReason { Start, Triggered, Resync, Retry }
