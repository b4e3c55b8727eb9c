using Weft.Agent.Runtime;

namespace Weft.Agent.Tests;

public class ReconcileLoopTests
{
    [Fact]
    public async Task Triggers_during_a_pass_coalesce_into_one_more_pass()
    {
        var inPass = new SemaphoreSlim(0);
        var release = new SemaphoreSlim(0);
        var passes = 0;
        var loop = new ReconcileLoop(async (_, ct) =>
        {
            Interlocked.Increment(ref passes);
            inPass.Release();
            await release.WaitAsync(ct);
            return true;
        }, TimeSpan.FromHours(1));
        using var cts = new CancellationTokenSource();
        var run = loop.RunAsync(cts.Token);

        await inPass.WaitAsync();            // start pass running
        for (var i = 0; i < 100; i++) loop.Trigger();
        release.Release();                   // finish start pass
        await inPass.WaitAsync();            // exactly one coalesced pass begins
        release.Release();
        // Give any (wrong) extra pass a chance to start, then stop.
        var extra = await inPass.WaitAsync(TimeSpan.FromMilliseconds(300));
        cts.Cancel();
        release.Release(10);
        await run;
        Assert.False(extra);
        Assert.Equal(2, passes);
    }

    [Fact]
    public async Task A_failed_pass_is_retried_without_a_trigger()
    {
        var results = new Queue<bool>([false, false, true]);
        var done = new TaskCompletionSource();
        var loop = new ReconcileLoop((reason, _) =>
        {
            var ok = results.Dequeue();
            if (ok) done.TrySetResult();
            return Task.FromResult(ok);
        }, TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(10));
        using var cts = new CancellationTokenSource();
        var run = loop.RunAsync(cts.Token);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cts.Cancel();
        await run;
        Assert.Equal(2, loop.Failures);
        Assert.Equal(3, loop.Passes);
    }

    [Fact]
    public async Task Resync_runs_a_pass_without_a_trigger()
    {
        var reasons = new List<ReconcileReason>();
        var done = new TaskCompletionSource();
        var loop = new ReconcileLoop((reason, _) =>
        {
            reasons.Add(reason);
            if (reasons.Count == 2) done.TrySetResult();
            return Task.FromResult(true);
        }, TimeSpan.FromMilliseconds(20));
        using var cts = new CancellationTokenSource();
        var run = loop.RunAsync(cts.Token);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cts.Cancel();
        await run;
        Assert.Equal([ReconcileReason.Start, ReconcileReason.Resync], reasons.Take(2));
    }
}
