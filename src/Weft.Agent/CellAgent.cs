using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Weft.Agent.Cell;
using Weft.Agent.Dataplane;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;
using Weft.Agent.Runtime;
using Weft.Agent.Server;

namespace Weft.Agent;

/// <summary>
/// The agent's core: holds the lease, watches the server, learns the cell's containers and drives
/// three coalescing reconcile loops (nftables table, overlay, registry report). The server being
/// unreachable never removes state: the last snapshot (persisted in the state dir) keeps being enforced.
/// </summary>
public sealed partial class CellAgent
{
    private readonly AgentOptions _o;
    private readonly IControlPlane _cp;
    private readonly IAgentDataplane _dp;
    private readonly ILogger _log;
    private readonly CellState _state;
    private readonly ReconcileLoop _policyLoop, _overlayLoop, _registryLoop;
    private volatile ClusterSnapshot? _cluster;
    private volatile Lease? _lease;
    private readonly IncrementalTable _table = new(); // guarded by _tableLock
    private readonly Lock _tableLock = new();
    private DesiredTable? _tableView; // _table materialized (for /state), null when it changed since
    private volatile OverlayDesired? _overlay;
    private volatile IReadOnlyList<LocalContainer> _containers = [];
    private long _changeSeenAt; // Stopwatch timestamp of the oldest change not yet applied (0: none)
    private int _mtu = 1450;
    private int _containersDirty = 1; // 1: the container records may have changed since the last read
    private int _brokenRecords;
    private volatile int _routerTag; // the overlay ingress router's tag (0: unknown or off)

    public CellAgent(AgentOptions o, IControlPlane cp, IAgentDataplane dp, ILogger log, AgentMetrics? metrics = null)
    {
        _o = o;
        _cp = cp;
        _dp = dp;
        _log = log;
        Metrics = metrics ?? new AgentMetrics();
        _state = new CellState(o.StateDir);
        _policyLoop = new ReconcileLoop(PolicyPass, o.Resync);
        _overlayLoop = new ReconcileLoop(OverlayPass, o.Resync);
        _registryLoop = new ReconcileLoop(RegistryPass, o.Resync, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
    }

    public AgentMetrics Metrics { get; }
    public CellState State => _state;
    public Lease? Lease => _lease;
    public ClusterSnapshot? Cluster => _cluster;
    /// <summary>The table the agent enforces (what it last committed, or is retrying to), materialized on demand.</summary>
    public DesiredTable? AppliedTable
    {
        get
        {
            lock (_tableLock) return _tableView ?? (_table.Cell is null ? null : _tableView = _table.ToTable());
        }
    }
    public bool ServerReachable { get; private set; }
    public bool Ready { get; private set; }
    public long PolicyPasses => _policyLoop.Passes;
    /// <summary>The overlay ingress router's tag in use (0: unknown, or overlay ingress off).</summary>
    public int RouterTag => _routerTag;
    internal bool PolicyIdle => _policyLoop.Idle;
    internal bool RegistryIdle => _registryLoop.Idle;

    /// <summary>Starts everything and runs until cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        if (_state.ReadSnapshot() is { } snap)
        {
            _cluster = new ClusterSnapshot(snap.Revision, snap.Policies.Select(p => p.ToRule()).ToList(), snap.Leases.Select(l => l.ToLease()).ToList());
            if (_o.RouterId.Length > 0) _routerTag = snap.RouterTag;
            LogSnapshotLoaded(snap.Revision, snap.Policies.Count, snap.Leases.Count);
        }
        _containers = _state.ReadContainers(null, CellSubnet());
        // Enforce what we know before anything else (a restart without the server keeps the table).
        await PolicyPass(ReconcileReason.Start, ct);

        _lease = await ObtainLeaseAsync(ct);
        _mtu = _dp.EnsureVtep(_lease, _o.Overlay, _o.UnderlayIp, _o.UnderlayInterface);
        _state.WriteLease(new LeaseFile(_lease.Subnet.ToString(), _mtu, _o.Overlay.ToString(), _o.UnderlayIp.ToString(), _o.VtepName, _lease.VtepMac));
        LogLease(_lease.Subnet.ToString(), _lease.UnderlayIp.ToString(), _mtu);

        using var watcher = new ContainerWatcher(_state, () =>
        {
            Volatile.Write(ref _containersDirty, 1);
            MarkChange();
            _policyLoop.Trigger(); // it re-reads the records and triggers the registry report when they changed
            Metrics.Inc("weft_agent_container_events_total");
        });
        Ready = true;
        var tasks = new[]
        {
            _policyLoop.RunAsync(ct), _overlayLoop.RunAsync(ct), _registryLoop.RunAsync(ct),
            WatchLoopAsync(ct), RenewLoopAsync(ct),
        };
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Releases the lease (if a server is given), deletes weft-vtep and the table, removes lease.json.</summary>
    public static async Task TeardownAsync(AgentOptions o, IControlPlane? cp, IAgentDataplane dp, ILogger log, CancellationToken ct)
    {
        if (cp is not null && !o.UnderlayIp.Equals(IPAddress.None))
        {
            try { await cp.ReleaseLeaseAsync(o.UnderlayIp, ct); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                LogReleaseFailed(log, e.Message);
            }
        }
        dp.DeleteVtep();
        dp.Nft.Delete();
        var state = new CellState(o.StateDir);
        File.Delete(state.LeasePath);
        File.Delete(state.SnapshotPath);
    }

    private async Task<Lease> ObtainLeaseAsync(CancellationToken ct)
    {
        Lease? local = null;
        if (_state.ReadLease() is { } lf && IPAddress.TryParse(lf.UnderlayIp, out var ul) && ul.Equals(_o.UnderlayIp))
        {
            local = new Lease(ul, IPNetwork.Parse(lf.Subnet), lf.HardwareAddr ?? "");
        }
        else if (_dp.ReadVtep() is { } v)
        {
            local = new Lease(_o.UnderlayIp, new IPNetwork(v.BaseIp, 24), v.Mac);
        }
        if (local is not null && _o.Overlay.Contains(local.Subnet.BaseAddress))
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                await _cp.RenewLeaseAsync(local, cts.Token);
                SetReachable(true);
                LogLeaseReadopted(local.Subnet.ToString());
                return local;
            }
            catch (LeaseConflictException e)
            {
                if (_containers.Count > 0)
                    throw new InvalidOperationException($"the server refuses this cell's lease {local.Subnet} and containers still use it: {e.Message}. Tear the cell down (weft-agent teardown) and restart it.");
                LogLeaseConflict(local.Subnet.ToString(), e.Message);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                SetReachable(false);
                LogFailStaticLease(local.Subnet.ToString(), e.Message);
                return local; // fail static: keep the lease; the renew loop catches up
            }
        }
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                var lease = await _cp.AcquireLeaseAsync(_o.UnderlayIp, ct);
                SetReachable(true);
                return lease;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException && !ct.IsCancellationRequested)
            {
                SetReachable(false);
                LogAcquireFailed(e.Message);
                await Task.Delay(backoff, ct);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private async Task RenewLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(_o.Renew, ct); } catch (OperationCanceledException) { return; }
            try
            {
                await _cp.RenewLeaseAsync(_lease!, ct);
                SetReachable(true);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                Metrics.Inc("weft_agent_renew_failures_total");
                LogRenewFailed(e.Message);
            }
        }
    }

    private async Task WatchLoopAsync(CancellationToken ct)
    {
        var needSnapshot = true;
        var backoff = TimeSpan.Zero;
        var lastSnapshot = Stopwatch.GetTimestamp();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (needSnapshot || Stopwatch.GetElapsedTime(lastSnapshot) > _o.Resync)
                {
                    var started = Stopwatch.GetTimestamp();
                    // The router's tag is asked for with every snapshot (concurrently): a policy change
                    // can free a tag and the server hand it out again.
                    var routerTag = RouterTagAsync(ct);
                    var snap = await _cp.SnapshotAsync(ct);
                    await routerTag;
                    lastSnapshot = Stopwatch.GetTimestamp();
                    Metrics.Observe("weft_agent_watch_lag_seconds", Stopwatch.GetElapsedTime(started));
                    SetReachable(true);
                    Accept(snap);
                    needSnapshot = false;
                }
                var since = _cluster?.Revision ?? 0;
                var (rev, changed) = await _cp.WatchAsync(since, _o.WatchTimeout, ct);
                SetReachable(true);
                backoff = TimeSpan.Zero;
                // Registry-only changes (containers elsewhere) do not change what this cell enforces.
                if (rev != since && changed.Any(k => k is "policies" or "leases"))
                {
                    MarkChange();
                    needSnapshot = true;
                }
                else if (rev < since)
                {
                    needSnapshot = true; // server state was reset
                }
                else if (rev != since && _cluster is { } cur)
                {
                    _cluster = cur with { Revision = rev };
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                // Fail static: keep the last state and keep enforcing; catch up on reconnect.
                SetReachable(false);
                Metrics.Inc("weft_agent_watch_errors_total");
                LogWatchFailed(e.Message);
                needSnapshot = true;
                backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                try { await Task.Delay(backoff, ct); } catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>Get-or-create the router's tag (overlay ingress); on failure the last known tag stays (fail static).</summary>
    private async Task RouterTagAsync(CancellationToken ct)
    {
        if (_o.RouterId.Length == 0) return;
        try { _routerTag = await _cp.GetOrCreateTagAsync(_o.RouterId, "router", ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e)
        {
            Metrics.Inc("weft_agent_router_tag_errors_total");
            LogRouterTagFailed(_o.RouterId, e.Message);
        }
    }

    /// <summary>Takes a new snapshot from the server: persists it and triggers the reconcilers.</summary>
    private void Accept(ClusterSnapshot snap)
    {
        _cluster = snap;
        Metrics.Set("weft_agent_revision", snap.Revision);
        Metrics.Set("weft_agent_policies", snap.Policies.Count);
        Metrics.Set("weft_agent_leases", snap.Leases.Count);
        _policyLoop.Trigger();
        _overlayLoop.Trigger();
        try
        {
            _state.WriteSnapshot(new Snapshot(snap.Revision, snap.Policies.Select(SnapshotPolicy.From).ToList(),
                snap.Leases.Select(SnapshotLease.From).ToList(), DateTimeOffset.UtcNow) { RouterTag = _routerTag });
        }
        catch (IOException e) { LogSnapshotSaveFailed(e.Message); }
    }

    private static bool SameContainers(IReadOnlyList<LocalContainer> a, IReadOnlyList<LocalContainer> b)
    {
        static string Key(LocalContainer c) =>
            $"{c.ContainerId}/{c.IfName}/{c.Ip}/{c.AppId}/{c.AppName}/{c.SpaceId}/{c.OrgId}/{c.InstanceIndex}/{string.Join(',', c.Ports)}";
        return a.Count == b.Count && a.Select(Key).Order(StringComparer.Ordinal).SequenceEqual(b.Select(Key).Order(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    /// <summary>The cell's /24: the lease held, else the one last written to lease.json (at start,
    /// before the server answers); null when neither is known (records are then checked without it).</summary>
    private IPNetwork? CellSubnet()
    {
        if (_lease is { } l) return l.Subnet;
        try { return _state.ReadLease() is { } f && IPNetwork.TryParse(f.Subnet, out var n) ? n : null; }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { return null; }
    }

    private void MarkChange() => Interlocked.CompareExchange(ref _changeSeenAt, Stopwatch.GetTimestamp(), 0);

    private Task<bool> PolicyPass(ReconcileReason reason, CancellationToken ct)
    {
        var changeAt = Interlocked.Exchange(ref _changeSeenAt, 0);
        // The records are read when they may have changed (a file event or datagram since the last
        // read), and on every pass that is not a plain trigger (start, resync, retry).
        var containers = _containers;
        if (Interlocked.Exchange(ref _containersDirty, 0) == 1 || reason != ReconcileReason.Triggered)
        {
            var broken = new List<string>();
            containers = _state.ReadContainers(broken, CellSubnet());
            var previous = _containers;
            _containers = containers;
            _brokenRecords = broken.Count;
            // The registry report sends this same list: report after reading it, never before (a report
            // triggered by the file event alone could race ahead of this read and send the old set).
            if (!SameContainers(previous, containers)) _registryLoop.Trigger();
            Metrics.Set("weft_agent_local_containers", containers.Count);
            foreach (var b in broken) LogBrokenRecord(b);
        }

        var cluster = _cluster;
        if (cluster is null)
        {
            // Nothing known yet (first start, no server): never wipe a table that already enforces.
            try { if (_dp.Nft.TableExists()) return Task.FromResult(true); }
            catch (Exception e) { LogNftFailed(e.Message); return Task.FromResult(false); }
            cluster = new ClusterSnapshot(0, [], []);
        }
        var underlays = cluster.Leases.Select(l => l.UnderlayIp).ToList();
        if (_lease is { } own && !underlays.Contains(own.UnderlayIp)) underlays.Add(own.UnderlayIp);
        // The router as asked for; the compiler takes the tag a policy gives it instead, or leaves
        // overlay ingress out when another app in the policies holds the tag.
        var inputs = new PolicyInputs(new CellSkeleton(_o.UnderlayIp, _o.Overlay), cluster.Policies, containers, underlays)
        {
            Router = _o.RouterId.Length > 0 ? new IngressRouter(_o.RouterId, _routerTag) : null,
        };
        DesiredTable? full = null;
        TableDelta delta = TableDelta.Empty;
        CompileStats stats;
        CompileStats? startStats = null;
        int elements;
        lock (_tableLock)
        {
            if (_table.Cell is null)
            {
                // Start: the whole table from the inputs (the plain compiler is the quickest way to it);
                // the incremental state is built once it is applied.
                full = PolicyCompiler.Compute(inputs, startStats = new CompileStats());
            }
            else if (reason == ReconcileReason.Resync)
            {
                // The safety net: the incremental state must equal a full recompute from the same inputs.
                _table.Update(inputs);
                full = PolicyCompiler.Compute(inputs);
                if (!_table.ToTable().SameElements(full))
                {
                    Metrics.Inc("weft_agent_incremental_mismatches_total");
                    LogIncrementalMismatch();
                    _table.Rebuild(inputs);
                }
            }
            else
            {
                delta = _table.Update(inputs);
            }
            if (full is not null || !delta.IsEmpty) _tableView = full;
            stats = startStats ?? _table.Stats;
            elements = full?.ElementCount ?? _table.ElementCount;
        }
        Metrics.Set("weft_agent_skipped_container_records", _brokenRecords + stats.SkippedContainers);
        Metrics.Set("weft_agent_skipped_policies", stats.SkippedPolicies);
        Metrics.Set("weft_agent_skipped_port_mappings", stats.SkippedPortMappings);
        Metrics.Set("weft_agent_skipped_ports", stats.SkippedPorts);
        Metrics.Set("weft_agent_conflicting_container_addresses", stats.ConflictingAddresses);
        NftApplyResult r;
        try
        {
            if (full is not null)
            {
                if (reason == ReconcileReason.Resync) _dp.Nft.Invalidate(); // read the kernel back and repair drift
                r = _dp.Nft.Apply(full);
            }
            else
            {
                r = _dp.Nft.ApplyDelta(inputs.Cell, delta, () => AppliedTable!);
            }
        }
        catch (Exception e)
        {
            Metrics.Inc("weft_agent_nft_apply_failures_total");
            LogNftFailed(e.Message);
            if (changeAt != 0) Interlocked.CompareExchange(ref _changeSeenAt, changeAt, 0);
            return Task.FromResult(false);
        }
        finally
        {
            lock (_tableLock)
            {
                if (_table.Cell is null) _table.Rebuild(inputs); // after the start's table is applied (or failed: the next pass repairs)
            }
        }
        Metrics.Set("weft_agent_nft_elements", elements);
        if (r.Kind != NftApplyKind.None)
        {
            var kind = r.Kind == NftApplyKind.Full ? "full" : "delta";
            Metrics.Observe("weft_agent_nft_apply_seconds", r.Duration, $"kind=\"{kind}\"");
            Metrics.Inc("weft_agent_nft_applies_total", 1, $"kind=\"{kind}\"");
            LogNftApplied(kind, r.Elements, r.Duration.TotalMilliseconds, cluster.Revision);
        }
        if (changeAt != 0) Metrics.Observe("weft_agent_change_to_applied_seconds", Stopwatch.GetElapsedTime(changeAt));
        return Task.FromResult(true);
    }

    private Task<bool> OverlayPass(ReconcileReason reason, CancellationToken ct)
    {
        var own = _lease;
        var cluster = _cluster;
        if (own is null) return Task.FromResult(true);
        try { _dp.EnsureVtep(own, _o.Overlay, _o.UnderlayIp, _o.UnderlayInterface); }
        catch (Exception e) { LogOverlayError(e.Message); return Task.FromResult(false); }
        if (cluster is null) return Task.FromResult(true); // unknown: leave the overlay as it is
        var desired = OverlayPlanner.Compute(own, cluster.Leases, _o.Overlay);
        _overlay = desired;
        var r = _dp.ReconcileOverlay(desired);
        if (r.Added > 0) Metrics.Inc("weft_agent_overlay_changes_total", r.Added, "op=\"add\"");
        if (r.Removed > 0) Metrics.Inc("weft_agent_overlay_changes_total", r.Removed, "op=\"remove\"");
        if (r.Added + r.Removed > 0) LogOverlay(r.Added, r.Removed, r.Unchanged);
        foreach (var e in r.Errors)
        {
            Metrics.Inc("weft_agent_overlay_errors_total");
            LogOverlayError(e.Message);
        }
        return Task.FromResult(r.Ok);
    }

    private async Task<bool> RegistryPass(ReconcileReason reason, CancellationToken ct)
    {
        if (_lease is null) return true;
        try
        {
            await _cp.RegisterAsync(_o.CellId, _o.UnderlayIp, _containers, ct);
            Metrics.Inc("weft_agent_registry_reports_total");
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogRegistryFailed(e.Message);
            return false;
        }
    }

    private void SetReachable(bool up)
    {
        ServerReachable = up;
        Metrics.Set("weft_agent_server_reachable", up ? 1 : 0);
    }

    private IngressRouter? RouterInForce()
    {
        lock (_tableLock) return _table.Router;
    }

    /// <summary>What the agent enforces now, for GET /state (and `weft` to read).</summary>
    public AgentStateView View() => new(
        _o.CellId, _o.UnderlayIp.ToString(), _lease?.Subnet.ToString(), _lease?.VtepMac, _mtu, ServerReachable, _cluster?.Revision,
        _cluster?.Policies.Count ?? 0, _cluster?.Leases.Count ?? 0,
        _containers.Select(c => new AgentContainerView(c.ContainerId, c.IfName, c.Ip.ToString(), c.HostVeth, c.AppId)
        {
            Ports = [.. c.Ports],
            PortMappings = c.PortMappings.Select(m => $"{m.Protocol}/{m.HostPort}->{m.ContainerPort}").ToList(),
        }).ToList(),
        AppliedTable?.Text.ToDictionary(e => e.Key, e => e.Value.ToList()) ?? [],
        _overlay?.Routes.Select(r => $"{r.Dst} via {r.Gateway}").Order(StringComparer.Ordinal).ToList() ?? [],
        _overlay?.Fdb.Select(f => $"{f.Mac} dst {f.Dst}").Order(StringComparer.Ordinal).ToList() ?? [])
    {
        RouterId = _o.RouterId.Length > 0 ? _o.RouterId : null,
        RouterTag = RouterInForce()?.Tag,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "loaded last snapshot: revision {Revision}, {Policies} policies, {Leases} leases")]
    private partial void LogSnapshotLoaded(long revision, int policies, int leases);
    [LoggerMessage(Level = LogLevel.Information, Message = "lease {Subnet} for underlay {Underlay}, vtep mtu {Mtu}")]
    private partial void LogLease(string subnet, string underlay, int mtu);
    [LoggerMessage(Level = LogLevel.Information, Message = "re-adopted lease {Subnet}")]
    private partial void LogLeaseReadopted(string subnet);
    [LoggerMessage(Level = LogLevel.Warning, Message = "server refuses lease {Subnet} ({Error}); no containers use it, acquiring a new one")]
    private partial void LogLeaseConflict(string subnet, string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "server unreachable ({Error}); keeping lease {Subnet} (fail static)")]
    private partial void LogFailStaticLease(string subnet, string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "lease acquire failed, retrying: {Error}")]
    private partial void LogAcquireFailed(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "lease renew failed: {Error}")]
    private partial void LogRenewFailed(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "watch failed, keeping the last state: {Error}")]
    private partial void LogWatchFailed(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot save snapshot: {Error}")]
    private partial void LogSnapshotSaveFailed(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "skipping invalid container record {File}")]
    private partial void LogBrokenRecord(string file);
    [LoggerMessage(Level = LogLevel.Error, Message = "the incrementally kept table differs from a full recompute; rebuilt it (please report this)")]
    private partial void LogIncrementalMismatch();
    [LoggerMessage(Level = LogLevel.Error, Message = "nft apply failed: {Error}")]
    private partial void LogNftFailed(string error);
    [LoggerMessage(Level = LogLevel.Information, Message = "nft {Kind}: {Elements} elements in {Ms:F2} ms (revision {Revision})")]
    private partial void LogNftApplied(string kind, int elements, double ms, long revision);
    [LoggerMessage(Level = LogLevel.Information, Message = "overlay: {Added} added, {Removed} removed, {Unchanged} unchanged")]
    private partial void LogOverlay(int added, int removed, int unchanged);
    [LoggerMessage(Level = LogLevel.Warning, Message = "overlay: {Error}")]
    private partial void LogOverlayError(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "registry report failed: {Error}")]
    private partial void LogRegistryFailed(string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot get the tag of router {Router}, keeping the last one: {Error}")]
    private partial void LogRouterTagFailed(string router, string error);
    [LoggerMessage(Level = LogLevel.Warning, Message = "lease release failed: {Error}")]
    private static partial void LogReleaseFailed(ILogger logger, string error);
}

public sealed record AgentContainerView(string ContainerId, string IfName, string Ip, string HostVeth, string AppId)
{
    public List<int> Ports { get; init; } = [];
    public List<string> PortMappings { get; init; } = [];
}

public sealed record AgentStateView(string CellId, string UnderlayIp, string? Subnet, string? VtepMac, int Mtu, bool ServerReachable,
    long? Revision, int Policies, int Leases, List<AgentContainerView> Containers, Dictionary<string, List<string>> Table,
    List<string> Routes, List<string> Fdb)
{
    /// <summary>The overlay ingress router's id and the tag enforced for it (null: off or unknown).</summary>
    public string? RouterId { get; init; }
    public int? RouterTag { get; init; }
}
