using Weft.Linux.Nft;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Weft.Agent.Dataplane;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;
using Weft.Agent.Server;

namespace Weft.Agent.Tests.Cell;

/// <summary>
/// The registry report and the container records, with the real <see cref="CellAgent"/> on a temp-dir
/// cell state (real files, real inotify) and a fake control plane and dataplane that let the test hold
/// the table pass at a chosen point. The order of events is forced, not left to timing.
/// </summary>
public sealed class RegistryReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-registry-").FullName;

    public RegistryReportTests() => Directory.CreateDirectory(Path.Combine(_dir, "containers"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    /// <summary>
    /// weft-cni records a container while the agent is inside a table pass (held in the nft transaction,
    /// having read the records before the new one existed). The file event asks for a new pass; the
    /// registry must get the new set once that pass has read it — a report sent on the file event alone
    /// would carry the old set and nothing would correct it until the next resync (an hour here).
    /// </summary>
    [Fact]
    public async Task A_container_recorded_during_a_table_pass_reaches_the_registry()
    {
        var cp = new FakeControlPlane();
        var runner = new GatedNftRunner();
        using var dp = new FakeDataplane(new NftEnforcer(runner));
        var o = new AgentOptions
        {
            UnderlayIp = FakeControlPlane.Underlay, StateDir = _dir, CellId = "cell-a", RouterId = "",
            Resync = TimeSpan.FromHours(1), Renew = TimeSpan.FromHours(1), WatchTimeout = TimeSpan.FromHours(1),
        };
        WriteRecord("a", "10.255.12.2", "app-a");
        var agent = new CellAgent(o, cp, dp, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var run = agent.RunAsync(cts.Token);
        try
        {
            await Until(() => cp.LastReport() is ["a"] && cp.Watching && agent.PolicyIdle && agent.RegistryIdle, "the first report and a settled agent", run);

            // A policy change starts a table pass; hold it inside the nft transaction.
            runner.HoldNext();
            cp.PublishPolicy(new PolicyRule("app-x", 5, "app-a", 6, "tcp", 8080, 8080));
            await Until(() => runner.Holding, "the table pass to reach nft", run);

            // Container b is recorded now; wait until its file event has been handled and whatever
            // registry pass that event asked for has finished.
            var events = agent.Metrics.Get("weft_agent_container_events_total");
            WriteRecord("b", "10.255.12.3", "app-b");
            await Until(() => agent.Metrics.Get("weft_agent_container_events_total") > events && agent.RegistryIdle, "the file event", run);

            runner.Release();
            await Until(() => !runner.Holding && agent.PolicyIdle && agent.RegistryIdle, "the agent to settle", run);
            Assert.Equal(["a", "b"], cp.LastReport() ?? []);
            Assert.Contains(agent.AppliedTable!.Text["containers"], e => e.Contains(" . 10.255.12.3 : ", StringComparison.Ordinal));
            Assert.Matches(@"(?m)^weft_agent_container_events_total [1-9]", agent.Metrics.Render()); // exposed on /metrics
        }
        finally
        {
            runner.Release();
            await cts.CancelAsync();
            try { await run; } catch (OperationCanceledException) { }
        }
    }

    private void WriteRecord(string id, string ip, string app)
    {
        // As weft-cni does: written elsewhere, then renamed into containers/ (one file event).
        var veth = PolicyCompiler.HostVethName(IPAddress.Parse(ip));
        var tmp = Path.Combine(_dir, $".{id}.tmp");
        File.WriteAllText(tmp, $$"""
            {"containerId":"{{id}}","ifName":"eth0","ip":"{{ip}}","netns":"/run/netns/x","hostVeth":"{{veth}}","appId":"{{app}}","orgId":"org","instanceIndex":0,"ports":[8080],"portMappings":[]}
            """);
        File.Move(tmp, Path.Combine(_dir, "containers", $"{id}.eth0.json"));
    }

    private static async Task Until(Func<bool> condition, string what, Task run)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (run.IsCompleted) await run; // the agent failed: show why
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }

    private sealed class FakeControlPlane : IControlPlane
    {
        public static readonly IPAddress Underlay = IPAddress.Parse("198.18.0.11");
        private static readonly Lease Own = new(Underlay, IPNetwork.Parse("10.255.12.0/24"), "ee:ee:0a:ff:0c:00");
        private readonly object _gate = new();
        private readonly List<string[]> _reports = [];
        private TaskCompletionSource _published = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ClusterSnapshot _snapshot = new(1, [], [Own]);
        private volatile bool _watching;

        public bool Watching => _watching;

        public string[]? LastReport() { lock (_gate) return _reports.Count == 0 ? null : _reports[^1]; }

        public void PublishPolicy(PolicyRule p)
        {
            lock (_gate) _snapshot = _snapshot with { Revision = _snapshot.Revision + 1, Policies = [.. _snapshot.Policies, p] };
            _published.TrySetResult();
        }

        public Task<Lease> AcquireLeaseAsync(IPAddress underlayIp, CancellationToken ct) => Task.FromResult(Own);
        public Task RenewLeaseAsync(Lease lease, CancellationToken ct) => Task.CompletedTask;
        public Task ReleaseLeaseAsync(IPAddress underlayIp, CancellationToken ct) => Task.CompletedTask;
        public Task<int> GetOrCreateTagAsync(string id, string type, CancellationToken ct) => Task.FromResult(0xff);

        public Task<ClusterSnapshot> SnapshotAsync(CancellationToken ct) { lock (_gate) return Task.FromResult(_snapshot); }

        public async Task<(long Revision, IReadOnlyList<string> Changed)> WatchAsync(long since, TimeSpan timeout, CancellationToken ct)
        {
            while (true)
            {
                Task published;
                lock (_gate)
                {
                    if (_snapshot.Revision > since) return (_snapshot.Revision, ["policies"]);
                    if (_published.Task.IsCompleted) _published = new(TaskCreationOptions.RunContinuationsAsynchronously);
                    published = _published.Task;
                }
                _watching = true;
                try { await published.WaitAsync(ct); }
                finally { _watching = false; }
            }
        }

        public Task RegisterAsync(string cellId, IPAddress underlayIp, IReadOnlyList<LocalContainer> containers, CancellationToken ct)
        {
            lock (_gate) _reports.Add([.. containers.Select(c => c.ContainerId).Order(StringComparer.Ordinal)]);
            return Task.CompletedTask;
        }
    }

    /// <summary>An nft that accepts every script and element batch; <see cref="HoldNext"/> makes the next
    /// transaction (script or batch) wait for <see cref="Release"/>. It remembers the chains scripts
    /// add, so the enforcer finds its marker chain again.</summary>
    private sealed class GatedNftRunner : INftRunner
    {
        private readonly ManualResetEventSlim _released = new(true);
        private readonly List<string> _chains = [];
        private volatile bool _holdNext, _holding, _exists;

        public bool Holding => _holding;
        public void HoldNext() { _released.Reset(); _holdNext = true; }
        public void Release() => _released.Set();

        public void Apply(string script)
        {
            Gate();
            lock (_chains)
            {
                foreach (var line in script.Split('\n'))
                {
                    if (line.StartsWith("add chain inet weft ", StringComparison.Ordinal)) _chains.Add(line["add chain inet weft ".Length..]);
                    if (line.StartsWith("delete chain inet weft ", StringComparison.Ordinal)) _chains.Remove(line["delete chain inet weft ".Length..]);
                }
            }
            _exists = true;
        }

        public void Commit(NftElementBatch batch) => Gate();

        private void Gate()
        {
            if (!_holdNext) return;
            _holdNext = false;
            _holding = true;
            _released.Wait();
            _holding = false;
        }

        public string? TryListStructure() => null;
        public NftStructure? TryReadStructure() { lock (_chains) return _exists ? new NftStructure("fake", [.. _chains], []) : null; }
        public List<T> ListElements<T>(INftSetLike set, NftElementReader<T> read) => [];
    }

    private sealed class FakeDataplane(NftEnforcer nft) : IAgentDataplane
    {
        public NftEnforcer Nft => nft;
        public (IPAddress BaseIp, string Mac)? ReadVtep() => null;
        public int EnsureVtep(Lease own, IPNetwork overlay, IPAddress underlayIp, string? underlayDevice) => 1450;
        public void DeleteVtep() { }
        public OverlayReconcileResult ReconcileOverlay(OverlayDesired desired) => new(0, 0, 0, []);
        public void Dispose() { }
    }
}
