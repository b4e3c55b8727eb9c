using System.Runtime.InteropServices;

namespace Weft.Agent.Policy;

/// <summary>
/// The desired table kept up to date change by change: <see cref="Update"/> takes the latest inputs,
/// finds what changed since the last call (policies, containers, cells, router) and returns only the
/// element changes that follow, without recomputing or diffing the whole table. It must always hold
/// exactly what <see cref="PolicyCompiler.Compute"/> computes from the same inputs (the property test
/// checks this; the agent compares both on every periodic resync and rebuilds on a mismatch).
/// <para>
/// What it keeps: the last inputs; valid policies per destination app and the tags each app is given
/// (with counts); per (tag, local IP, protocol) the multiset of port ranges contributed by policies
/// and router metadata ports, and the merged elements they currently produce (two policies may give
/// the same range, and a range may be merged with a neighbour another policy still needs: a change
/// re-merges only its own key); reference counts for elements several containers can give
/// (<c>cells</c>); the marks of the containers holding each local address (its <c>containers</c>
/// element carries their mark, or 0 when they disagree, and then the address gets no allow entries); the claimants of every host port
/// (the first container id wins).
/// </para>
/// The lists in <see cref="PolicyInputs"/> are read, never kept beyond the next call, except the
/// policy list, which must not be changed after it is passed (the next call compares against it).
/// Not thread-safe.
/// </summary>
public sealed class IncrementalTable
{
    private readonly Changes _changes = new();
    private CellSkeleton? _cell;

    // Inputs as last applied.
    private IReadOnlyList<PolicyRule> _policyList = [];
    private IReadOnlyList<System.Net.IPAddress>? _cellList;
    private IngressRouter? _asked;

    // Valid policies.
    private readonly Dictionary<string, Dictionary<PolicyRule, int>> _toApp = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<int, int>> _appTags = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Dictionary<string, int>> _tagApps = [];
    private int _invalidPolicies;

    // Containers.
    private readonly Dictionary<ContainerKey, Container> _containers = [];
    private readonly Dictionary<string, List<Container>> _byApp = new(StringComparer.Ordinal);
    private int _invalidContainers, _invalidMappings, _invalidPorts, _claimTotal;

    // The router as enforced (resolved), and the tag its metadata-port ranges were contributed with.
    private IngressRouter? _router;
    private int _routerPortsTag;

    // Derived elements.
    private readonly Dictionary<uint, int> _cells = [];
    private readonly Dictionary<uint, List<uint>> _marks = []; // local IP → the marks of the valid containers holding it
    private int _conflicts; // addresses whose containers' marks differ
    private readonly Dictionary<RangeKey, RangeBag> _ranges = [];
    private readonly HashSet<RangeKey> _dirty = [];
    private readonly Dictionary<(byte Proto, ushort Port), List<Claim>> _claims = [];
    private int _allowCount, _rangeCount;

    /// <summary>The skeleton of the last inputs (null before the first update).</summary>
    public CellSkeleton? Cell => _cell;

    /// <summary>The overlay ingress router as enforced (<see cref="PolicyCompiler.ResolveRouter"/>), or null.</summary>
    public IngressRouter? Router => _router;

    /// <summary>Number of elements across all sets.</summary>
    public int ElementCount => _cells.Count + _marks.Count + _allowCount + _rangeCount + 2 * _claims.Count;

    /// <summary>What the inputs hold that the table cannot express (as <see cref="PolicyCompiler.Compute"/> counts it).</summary>
    public CompileStats Stats => new()
    {
        SkippedPolicies = _invalidPolicies,
        SkippedContainers = _invalidContainers,
        SkippedPortMappings = _invalidMappings + _claimTotal - _claims.Count,
        SkippedPorts = _router is null ? 0 : _invalidPorts,
        ConflictingAddresses = _conflicts,
    };

    /// <summary>Forgets everything and builds the state for <paramref name="inputs"/> (no delta).</summary>
    public DesiredTable Rebuild(PolicyInputs inputs)
    {
        Clear();
        _changes.Tracking = false;
        try { Update(inputs); }
        finally { _changes.Tracking = true; }
        return ToTable();
    }

    /// <summary>Forgets everything: the next <see cref="Update"/> returns every element as added.</summary>
    public void Clear()
    {
        _cell = null;
        _policyList = [];
        _cellList = null;
        _asked = null;
        _toApp.Clear();
        _appTags.Clear();
        _tagApps.Clear();
        _invalidPolicies = 0;
        _containers.Clear();
        _byApp.Clear();
        _invalidContainers = _invalidMappings = _invalidPorts = _claimTotal = 0;
        _router = null;
        _routerPortsTag = 0;
        _cells.Clear();
        _marks.Clear();
        _conflicts = 0;
        _ranges.Clear();
        _dirty.Clear();
        _claims.Clear();
        _allowCount = _rangeCount = 0;
        _changes.Clear();
    }

    /// <summary>Brings the state to <paramref name="inputs"/> and returns the element changes since the last call.</summary>
    public TableDelta Update(PolicyInputs inputs)
    {
        _changes.Clear();
        _cell = inputs.Cell;
        var touched = new HashSet<string>(StringComparer.Ordinal);

        UpdateCells(inputs.CellUnderlayIps);

        // Containers that went away (or changed) leave first, with the policies they were given.
        var (gone, arrived) = DiffContainers(inputs.Containers);
        foreach (var c in gone) RemoveContainer(c);

        var (removed, added) = DiffPolicies(inputs.Policies);
        foreach (var p in removed) RemovePolicy(p, touched);
        foreach (var p in added) AddPolicy(p, touched);

        foreach (var c in arrived) AddContainer(c, touched);

        // The router: its tag may change with the policies or with the tag asked for.
        _asked = inputs.Router;
        var router = ResolveRouter();
        var tag = router?.Tag ?? 0;
        if (tag != _routerPortsTag)
        {
            foreach (var list in _byApp.Values)
            {
                foreach (var c in list)
                {
                    RouterPorts(c, _routerPortsTag, -1);
                    RouterPorts(c, tag, +1);
                }
            }
            _routerPortsTag = tag;
        }
        if (router != _router)
        {
            if (_router is not null) touched.Add(_router.AppId);
            if (router is not null) touched.Add(router.AppId);
            _router = router;
        }

        // Source tags of the apps whose tag may have changed.
        foreach (var app in touched)
        {
            if (!_byApp.TryGetValue(app, out var list)) continue;
            var t = EffectiveTag(app);
            foreach (var c in list) SetMark(c, (uint)t);
        }

        FlushRanges();
        return _changes.ToDelta();
    }

    /// <summary>The whole table as it stands (sorted; O(n log n): for the read-back path, /state and checks).</summary>
    public DesiredTable ToTable()
    {
        var sets = new TableElement[DesiredTable.Sets.Length][];
        sets[(int)TableSet.Cells] = _cells.Keys.Select(TableElement.Address).ToArray();
        sets[(int)TableSet.Containers] = _marks.Select(kv => TableElement.Container(kv.Key, AddressMark(kv.Value).Mark!.Value)).ToArray();
        var allow = new List<TableElement>(_allowCount);
        var ranges = new List<TableElement>(_rangeCount);
        foreach (var bag in _ranges.Values)
        {
            foreach (var e in bag.Merged) (IsSingle(e) ? allow : ranges).Add(e);
        }
        sets[(int)TableSet.Allow] = allow.ToArray();
        sets[(int)TableSet.AllowRanges] = ranges.ToArray();
        sets[(int)TableSet.Mapped] = _claims.Keys.Select(k => TableElement.Mapped(k.Proto, k.Port)).ToArray();
        sets[(int)TableSet.Portmap] = _claims.Select(kv => PortMap(kv.Key, Winner(kv.Value))).ToArray();
        return new DesiredTable(_cell ?? throw new InvalidOperationException("no inputs yet"), sets);
    }

    // ------------------------------------------------------------------ cells

    private void UpdateCells(IReadOnlyList<System.Net.IPAddress> ips)
    {
        if (ReferenceEquals(ips, _cellList)) return;
        _cellList = ips;
        var want = new Dictionary<uint, int>(ips.Count);
        foreach (var ip in ips)
        {
            if (TableElements.TryIpv4(ip, out var v)) CollectionsMarshal.GetValueRefOrAddDefault(want, v, out _)++;
        }
        foreach (var (ip, _) in _cells)
        {
            if (!want.ContainsKey(ip)) _changes.Remove(TableSet.Cells, TableElement.Address(ip));
        }
        foreach (var (ip, _) in want)
        {
            if (!_cells.ContainsKey(ip)) _changes.Add(TableSet.Cells, TableElement.Address(ip));
        }
        _cells.Clear();
        foreach (var (ip, n) in want) _cells[ip] = n;
    }

    // ------------------------------------------------------------------ policies

    /// <summary>
    /// Policies removed and added since the last list: the common prefix and suffix are skipped (the
    /// server sends its policies in a stable order, so one change leaves a short middle), and the two
    /// middles are compared as multisets.
    /// </summary>
    private (List<PolicyRule> Removed, List<PolicyRule> Added) DiffPolicies(IReadOnlyList<PolicyRule> list)
    {
        var oldList = _policyList;
        _policyList = list;
        if (ReferenceEquals(oldList, list)) return ([], []);
        var old = Span(oldList);
        var now = Span(list);
        int n = Math.Min(old.Length, now.Length), pre = 0, suf = 0;
        while (pre < n && Same(old[pre], now[pre])) pre++;
        while (suf < n - pre && Same(old[^(suf + 1)], now[^(suf + 1)])) suf++;
        var net = new Dictionary<PolicyRule, int>();
        foreach (var p in old[pre..^suf]) CollectionsMarshal.GetValueRefOrAddDefault(net, p, out _)--;
        foreach (var p in now[pre..^suf]) CollectionsMarshal.GetValueRefOrAddDefault(net, p, out _)++;
        var removed = new List<PolicyRule>();
        var added = new List<PolicyRule>();
        foreach (var (p, d) in net)
        {
            for (var k = d; k < 0; k++) removed.Add(p);
            for (var k = 0; k < d; k++) added.Add(p);
        }
        return (removed, added);
    }

    private static ReadOnlySpan<PolicyRule> Span(IReadOnlyList<PolicyRule> l) => l switch
    {
        PolicyRule[] a => a,
        List<PolicyRule> list => CollectionsMarshal.AsSpan(list),
        _ => l.ToArray(),
    };

    /// <summary>The record's equality, numbers first (most policies differ from their neighbours in a number).</summary>
    private static bool Same(PolicyRule a, PolicyRule b) =>
        ReferenceEquals(a, b) ||
        (a.SourceTag == b.SourceTag && a.DestinationTag == b.DestinationTag && a.StartPort == b.StartPort && a.EndPort == b.EndPort &&
         string.Equals(a.SourceApp, b.SourceApp) && string.Equals(a.DestinationApp, b.DestinationApp) && string.Equals(a.Protocol, b.Protocol));

    private void AddPolicy(PolicyRule p, HashSet<string> touched)
    {
        if (!PolicyCompiler.IsValid(p)) { _invalidPolicies++; return; }
        ref var set = ref CollectionsMarshal.GetValueRefOrAddDefault(_toApp, p.DestinationApp, out _);
        set ??= [];
        CollectionsMarshal.GetValueRefOrAddDefault(set, p, out _)++;
        Tag(p.SourceApp, p.SourceTag, +1);
        Tag(p.DestinationApp, p.DestinationTag, +1);
        touched.Add(p.SourceApp);
        touched.Add(p.DestinationApp);
        if (_byApp.TryGetValue(p.DestinationApp, out var dsts))
        {
            foreach (var c in dsts) Range(new RangeKey(p.SourceTag, c.Ip, TableElements.Protocol(p.Protocol)), (ushort)p.StartPort, (ushort)p.EndPort, +1);
        }
    }

    private void RemovePolicy(PolicyRule p, HashSet<string> touched)
    {
        if (!PolicyCompiler.IsValid(p)) { _invalidPolicies--; return; }
        var set = _toApp[p.DestinationApp];
        if (--CollectionsMarshal.GetValueRefOrNullRef(set, p) == 0)
        {
            set.Remove(p);
            if (set.Count == 0) _toApp.Remove(p.DestinationApp);
        }
        Tag(p.SourceApp, p.SourceTag, -1);
        Tag(p.DestinationApp, p.DestinationTag, -1);
        touched.Add(p.SourceApp);
        touched.Add(p.DestinationApp);
        if (_byApp.TryGetValue(p.DestinationApp, out var dsts))
        {
            foreach (var c in dsts) Range(new RangeKey(p.SourceTag, c.Ip, TableElements.Protocol(p.Protocol)), (ushort)p.StartPort, (ushort)p.EndPort, -1);
        }
    }

    private void Tag(string app, int tag, int d)
    {
        Count(_appTags, app, tag, d);
        Count(_tagApps, tag, app, d);
    }

    private static void Count<TK, TV>(Dictionary<TK, Dictionary<TV, int>> index, TK outer, TV inner, int d) where TK : notnull where TV : notnull
    {
        ref var m = ref CollectionsMarshal.GetValueRefOrAddDefault(index, outer, out _);
        m ??= [];
        ref var n = ref CollectionsMarshal.GetValueRefOrAddDefault(m, inner, out _);
        n += d;
        if (n != 0) return;
        m.Remove(inner);
        if (m.Count == 0) index.Remove(outer);
    }

    /// <summary>The tag a local container of <paramref name="app"/> sends with (0: none): the smallest
    /// tag the policies give the app, else the router's when the app is the router.</summary>
    private int EffectiveTag(string app)
    {
        if (_appTags.TryGetValue(app, out var tags)) return tags.Keys.Min();
        return _router is { } r && r.AppId == app ? r.Tag : 0;
    }

    /// <summary><see cref="PolicyCompiler.ResolveRouter"/> from the indexes: O(1) in the number of policies.</summary>
    private IngressRouter? ResolveRouter()
    {
        if (_asked is null || _asked.AppId.Length == 0) return null;
        var id = _asked.AppId;
        var tag = _appTags.TryGetValue(id, out var tags) ? tags.Keys.Min() : _asked.Tag;
        if (tag is < 1 or > 0xffff) return null;
        if (_tagApps.TryGetValue(tag, out var apps) && apps.Keys.Any(a => a != id)) return null;
        return _router is { } r && r.AppId == id && r.Tag == tag ? r : new IngressRouter(id, tag);
    }

    // ------------------------------------------------------------------ containers

    private readonly record struct ContainerKey(string Id, string IfName, int Dup) : IComparable<ContainerKey>
    {
        public int CompareTo(ContainerKey o)
        {
            var c = string.CompareOrdinal(Id, o.Id);
            if (c == 0) c = string.CompareOrdinal(IfName, o.IfName);
            return c != 0 ? c : Dup.CompareTo(o.Dup);
        }
    }

    private sealed class Container(ContainerKey key, LocalContainer c)
    {
        public ContainerKey Key { get; } = key;
        public LocalContainer C { get; } = c;
        public bool Valid;
        public uint Ip;
        public uint Mark; // the mark it holds in _marks (its app's tag; 0: none)
    }

    private (List<Container> Gone, List<Container> Arrived) DiffContainers(IReadOnlyList<LocalContainer> list)
    {
        var seen = new Dictionary<(string, string), int>();
        var now = new Dictionary<ContainerKey, LocalContainer>(list.Count);
        foreach (var c in list)
        {
            ref var dup = ref CollectionsMarshal.GetValueRefOrAddDefault(seen, (c.ContainerId, c.IfName), out _);
            now[new ContainerKey(c.ContainerId, c.IfName, dup++)] = c;
        }
        var gone = new List<Container>();
        var arrived = new List<Container>();
        foreach (var (k, c) in _containers)
        {
            if (!now.TryGetValue(k, out var n) || !SameForTable(c.C, n)) gone.Add(c);
        }
        foreach (var (k, c) in now)
        {
            if (!_containers.TryGetValue(k, out var o) || !SameForTable(o.C, c)) arrived.Add(new Container(k, c));
        }
        return (gone, arrived);
    }

    /// <summary>Same in everything the table uses (the registry's fields do not count).</summary>
    private static bool SameForTable(LocalContainer a, LocalContainer b) =>
        ReferenceEquals(a, b) ||
        (a.Ip.Equals(b.Ip) && a.HostVeth == b.HostVeth && a.AppId == b.AppId &&
         a.PortMappings.SequenceEqual(b.PortMappings) && a.Ports.SequenceEqual(b.Ports));

    private void AddContainer(Container c, HashSet<string> touched)
    {
        _containers[c.Key] = c;
        c.Valid = PolicyCompiler.IsValid(c.C, out c.Ip);
        if (!c.Valid) { _invalidContainers++; return; }
        c.Mark = 0; // the loop over touched apps in Update gives it its app's tag
        Marks(c.Ip, null, 0);
        ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(_byApp, c.C.AppId, out _);
        list ??= [];
        list.Add(c);
        touched.Add(c.C.AppId);
        if (_toApp.TryGetValue(c.C.AppId, out var policies))
        {
            foreach (var (p, n) in policies)
            {
                var key = new RangeKey(p.SourceTag, c.Ip, TableElements.Protocol(p.Protocol));
                for (var i = 0; i < n; i++) Range(key, (ushort)p.StartPort, (ushort)p.EndPort, +1);
            }
        }
        foreach (var port in c.C.Ports)
        {
            if (!PolicyCompiler.IsPort(port)) _invalidPorts++;
        }
        RouterPorts(c, _routerPortsTag, +1);
        Mappings(c, +1);
    }

    private void RemoveContainer(Container c)
    {
        _containers.Remove(c.Key);
        if (!c.Valid) { _invalidContainers--; return; }
        Marks(c.Ip, c.Mark, null);
        var list = _byApp[c.C.AppId];
        list.Remove(c);
        if (list.Count == 0) _byApp.Remove(c.C.AppId);
        if (_toApp.TryGetValue(c.C.AppId, out var policies))
        {
            foreach (var (p, n) in policies)
            {
                var key = new RangeKey(p.SourceTag, c.Ip, TableElements.Protocol(p.Protocol));
                for (var i = 0; i < n; i++) Range(key, (ushort)p.StartPort, (ushort)p.EndPort, -1);
            }
        }
        foreach (var port in c.C.Ports)
        {
            if (!PolicyCompiler.IsPort(port)) _invalidPorts--;
        }
        RouterPorts(c, _routerPortsTag, -1);
        Mappings(c, -1);
    }

    private void SetMark(Container c, uint mark)
    {
        if (c.Mark == mark) return;
        Marks(c.Ip, c.Mark, mark);
        c.Mark = mark;
    }

    /// <summary>
    /// One container holding <paramref name="ip"/> changes its mark from <paramref name="old"/> to
    /// <paramref name="now"/> (null: it arrives / leaves). The <c>containers</c> element of the address
    /// carries its holders' mark (normally there is one holder), or 0 when they disagree, as
    /// <see cref="PolicyCompiler"/> does.
    /// </summary>
    private void Marks(uint ip, uint? old, uint? now)
    {
        ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(_marks, ip, out _);
        list ??= [];
        var (before, conflictBefore) = AddressMark(list);
        if (old is { } o) list.Remove(o);
        if (now is { } n) list.Add(n);
        var (after, conflictAfter) = AddressMark(list);
        if (list.Count == 0) _marks.Remove(ip);
        _conflicts += (conflictAfter ? 1 : 0) - (conflictBefore ? 1 : 0);
        if (conflictAfter != conflictBefore)
        {
            // Its allow entries go or come back: re-merge every key of the address (rare: a stale record).
            foreach (var key in _ranges.Keys)
            {
                if (key.Ip == ip) _dirty.Add(key);
            }
        }
        if (before == after) return;
        if (before is { } b) _changes.Remove(TableSet.Containers, TableElement.Container(ip, b));
        if (after is { } a) _changes.Add(TableSet.Containers, TableElement.Container(ip, a));
    }

    private bool Conflicting(uint ip) => _marks.TryGetValue(ip, out var marks) && AddressMark(marks).Conflict;

    private static (uint? Mark, bool Conflict) AddressMark(List<uint> marks)
    {
        if (marks.Count == 0) return (null, false);
        uint min = marks.Min(), max = marks.Max();
        return (PolicyCompiler.AddressMark(min, max), min != max);
    }

    private void RouterPorts(Container c, int tag, int d)
    {
        if (tag == 0) return;
        var key = new RangeKey(tag, c.Ip, TableElements.Tcp);
        foreach (var port in c.C.Ports)
        {
            if (PolicyCompiler.IsPort(port)) Range(key, (ushort)port, (ushort)port, d);
        }
    }

    // ------------------------------------------------------------------ port mappings

    private readonly record struct Claim(ContainerKey Key, int Index, uint Ip, ushort Port) : IComparable<Claim>
    {
        public int CompareTo(Claim o)
        {
            var c = Key.CompareTo(o.Key);
            return c != 0 ? c : Index.CompareTo(o.Index);
        }
    }

    private void Mappings(Container c, int d)
    {
        var i = 0;
        foreach (var pm in c.C.PortMappings)
        {
            var index = i++;
            var proto = TableElements.Protocol(pm.Protocol);
            if (proto == 0 || !PolicyCompiler.IsPort(pm.HostPort) || !PolicyCompiler.IsPort(pm.ContainerPort)) { _invalidMappings += d; continue; }
            var hostKey = (proto, (ushort)pm.HostPort);
            var claim = new Claim(c.Key, index, c.Ip, (ushort)pm.ContainerPort);
            _claimTotal += d;
            ref var claims = ref CollectionsMarshal.GetValueRefOrAddDefault(_claims, hostKey, out var exists);
            Claim? before = exists ? Winner(claims!) : null;
            claims ??= [];
            if (d > 0) claims.Add(claim);
            else claims.Remove(claim);
            Claim? after = claims.Count > 0 ? Winner(claims) : null;
            if (claims.Count == 0) _claims.Remove(hostKey);
            if (before == after) continue;
            if (before is { } b) _changes.Remove(TableSet.Portmap, PortMap(hostKey, b));
            if (after is { } a) _changes.Add(TableSet.Portmap, PortMap(hostKey, a));
            if (before is null) _changes.Add(TableSet.Mapped, TableElement.Mapped(proto, hostKey.Item2));
            if (after is null) _changes.Remove(TableSet.Mapped, TableElement.Mapped(proto, hostKey.Item2));
        }
    }

    private static Claim Winner(List<Claim> claims)
    {
        var w = claims[0];
        for (var i = 1; i < claims.Count; i++)
        {
            if (claims[i].CompareTo(w) < 0) w = claims[i];
        }
        return w;
    }

    private static TableElement PortMap((byte Proto, ushort Port) host, Claim w) => TableElement.PortMap(host.Proto, host.Port, w.Ip, w.Port);

    // ------------------------------------------------------------------ port ranges

    private readonly record struct RangeKey(int Tag, uint Ip, byte Proto);

    private sealed class RangeBag
    {
        public readonly List<(ushort S, ushort E)> Ranges = [];
        public TableElement[] Merged = [];
    }

    private void Range(RangeKey key, ushort s, ushort e, int d)
    {
        ref var bag = ref CollectionsMarshal.GetValueRefOrAddDefault(_ranges, key, out _);
        bag ??= new RangeBag();
        if (d > 0) bag.Ranges.Add((s, e));
        else
        {
            var i = bag.Ranges.IndexOf((s, e));
            bag.Ranges[i] = bag.Ranges[^1];
            bag.Ranges.RemoveAt(bag.Ranges.Count - 1);
        }
        _dirty.Add(key);
    }

    /// <summary>Re-merges the keys whose ranges changed and records the elements that differ.</summary>
    private void FlushRanges()
    {
        foreach (var key in _dirty)
        {
            var bag = _ranges[key];
            var merged = bag.Ranges.Count switch
            {
                0 => [],
                _ when Conflicting(key.Ip) => [], // in doubt: nothing reaches it by policy (as PolicyCompiler)
                1 => [TableElement.Policy((uint)key.Tag, key.Ip, key.Proto, bag.Ranges[0].S, bag.Ranges[0].E)],
                _ => PolicyCompiler.MergeRanges(bag.Ranges.Select(r => ((int)r.S, (int)r.E)).ToList())
                    .Select(r => TableElement.Policy((uint)key.Tag, key.Ip, key.Proto, (ushort)r.Start, (ushort)r.End)).ToArray(),
            };
            // Both are sorted (same key: by first port), so one merge walk gives the elements that differ.
            var (removed, added) = NftScript.SortedDiff(bag.Merged, merged);
            foreach (var e in removed) CountMerged(e, -1);
            foreach (var e in added) CountMerged(e, +1);
            bag.Merged = merged;
            if (bag.Ranges.Count == 0) _ranges.Remove(key);
        }
        _dirty.Clear();
    }

    /// <summary>Counts a merged element in or out of allow (one port) or allow_ranges, and records the change.</summary>
    private void CountMerged(TableElement e, int d)
    {
        var single = IsSingle(e);
        if (single) _allowCount += d;
        else _rangeCount += d;
        var set = single ? TableSet.Allow : TableSet.AllowRanges;
        if (d < 0) _changes.Remove(set, e);
        else _changes.Add(set, e);
    }

    private static bool IsSingle(TableElement e) => (ushort)(e.Lo >> 16) == (ushort)e.Lo;

    // ------------------------------------------------------------------ the delta

    /// <summary>Net element changes of one update: an element removed and added again in the same update is no change.</summary>
    private sealed class Changes
    {
        private readonly Dictionary<TableElement, int>[] _net = TableElements.All.Select(_ => new Dictionary<TableElement, int>()).ToArray();

        public bool Tracking { get; set; } = true;

        public void Add(TableSet set, TableElement e)
        {
            if (Tracking) CollectionsMarshal.GetValueRefOrAddDefault(_net[(int)set], e, out _)++;
        }

        public void Remove(TableSet set, TableElement e)
        {
            if (Tracking) CollectionsMarshal.GetValueRefOrAddDefault(_net[(int)set], e, out _)--;
        }

        public void Clear()
        {
            foreach (var d in _net) d.Clear();
        }

        public TableDelta ToDelta()
        {
            List<SetDelta>? changes = null;
            foreach (var set in TableElements.All)
            {
                var net = _net[(int)set];
                if (net.Count == 0) continue;
                var removed = new List<TableElement>();
                var added = new List<TableElement>();
                foreach (var (e, n) in net)
                {
                    if (n < 0) removed.Add(e);
                    else if (n > 0) added.Add(e);
                }
                if (removed.Count + added.Count == 0) continue;
                removed.Sort();
                added.Sort();
                (changes ??= []).Add(new SetDelta(set, removed, added));
            }
            return changes is null ? TableDelta.Empty : new TableDelta(changes);
        }
    }
}
