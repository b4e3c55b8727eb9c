using System.Collections.Immutable;
using System.Diagnostics;
using Weft.Agent.Policy;
using Weft.Linux;
using Weft.Linux.Nft;

namespace Weft.Agent.Dataplane;

/// <summary>What the enforcer needs from nftables in the cell's namespace.</summary>
public interface INftRunner
{
    /// <summary>Applies an nft script as one transaction (libnftables); throws on refusal (nothing applied).</summary>
    void Apply(string script);

    /// <summary>Commits element changes as one nf_tables netlink batch; throws <see cref="KernelException"/> on refusal (nothing applied).</summary>
    void Commit(NftElementBatch batch);

    /// <summary><c>nft -j -t list table inet weft</c> (no elements, but libnftables still fetches them: slow for large sets), or null when the table does not exist.</summary>
    string? TryListStructure();

    /// <summary>Digest of the table's chains, rules and set declarations (<see cref="NftNetlink.TryReadStructure"/>), marker chains left out; null when the table does not exist.</summary>
    NftStructure? TryReadStructure();

    /// <summary>The elements of one of the table's sets or maps (an nf_tables netlink dump), each made by <paramref name="read"/> from its kernel bytes.</summary>
    List<T> ListElements<T>(INftSetLike set, NftElementReader<T> read);
}

/// <summary>libnftables context and nf_tables netlink socket, both opened in one namespace.</summary>
public sealed class LibNftRunner(NftContext ctx, NftNetlink netlink) : INftRunner, IDisposable
{
    /// <summary>Opens both in the calling thread's namespace (call it inside <c>NetNs.Run</c> for another).</summary>
    public static LibNftRunner OpenHere()
    {
        var ctx = NftContext.Open();
        try { return new LibNftRunner(ctx, NftNetlink.Open()); }
        catch { ctx.Dispose(); throw; }
    }

    public NftContext Context => ctx;
    public void Apply(string script) => ctx.Apply(script);
    public void Commit(NftElementBatch batch) => netlink.Commit(batch);
    public string? TryListStructure() => ctx.TryListTableStructureJson(NftFamily.Inet, DesiredTable.TableName);
    public List<T> ListElements<T>(INftSetLike set, NftElementReader<T> read) => netlink.ListElements(NftFamily.Inet, DesiredTable.TableName, set, read);
    public NftStructure? TryReadStructure() => netlink.TryReadStructure(NftFamily.Inet, DesiredTable.TableName, NftScript.IsNotMarker);
    public void Dispose()
    {
        netlink.Dispose();
        ctx.Dispose();
    }
}

public enum NftApplyKind { None, Delta, Full }

/// <param name="Kind">None: nothing changed; Delta: element changes only; Full: the table, or its
/// chains and rules, were (re)written.</param>
/// <param name="DeltaError">A delta the kernel refused before the table was read back and repaired.</param>
public sealed record NftApplyResult(NftApplyKind Kind, TimeSpan Duration, int Elements, Exception? DeltaError = null);

/// <summary>
/// Keeps <c>inet weft</c> equal to the desired table. Elements go to the kernel as nf_tables netlink
/// batches (<see cref="NftElementBatch"/>), chains and rules as small libnftables transactions.
/// <list type="bullet">
/// <item>Known state (what was last applied): one batch of element deletions and additions.</item>
/// <item>No table: declare the sets (empty, unreferenced), fill them in one netlink batch, then add
/// the chains and rules in one transaction: until that last step nothing refers to the sets, so
/// traffic sees no table or the whole table, never a partly filled one.</item>
/// <item>Unknown state (start, periodic resync, a refused batch): read the table back; if its sets
/// have our types, patch the elements that differ (correct ones are never touched), and rewrite the
/// chains and rules atomically only if their listing differs from what the marker chain says we
/// wrote (a rule deleted or changed by hand is repaired).</item>
/// <item>Sets of other types (an older layout): one libnftables transaction replaces the table.</item>
/// </list>
/// Not thread-safe: one reconcile loop drives it.
/// </summary>
public sealed class NftEnforcer(INftRunner nft)
{
    private CellSkeleton? _synced; // the skeleton of the table the kernel holds as far as we know

    /// <summary>The whole table the kernel holds as far as we know, when it was applied whole by
    /// <see cref="Apply"/> (null: unknown, or kept up to date by <see cref="ApplyDelta"/>).</summary>
    public DesiredTable? Applied { get; private set; }

    /// <summary>Whether the kernel holds what was last applied (whole or by deltas), with skeleton <paramref name="cell"/>.</summary>
    public bool InSync(CellSkeleton cell) => _synced is { } s && DesiredTable.SameSkeleton(s, cell);

    /// <summary>Makes the kernel hold <paramref name="desired"/>: a delta against <see cref="Applied"/> when known, else read back and repaired.</summary>
    public NftApplyResult Apply(DesiredTable desired)
    {
        var sw = Stopwatch.StartNew();
        Exception? deltaError = null;
        if (Applied is { } prev && prev.SameSkeleton(desired) && InSync(desired.Cell))
        {
            var delta = NftScript.Delta(prev, desired);
            if (delta.IsEmpty) return new(NftApplyKind.None, sw.Elapsed, 0);
            Applied = null; // unknown until the kernel answers (an exception other than a refusal leaves it so)
            _synced = null;
            try
            {
                nft.Commit(delta.ToBatch());
                Applied = desired;
                _synced = desired.Cell;
                return new(NftApplyKind.Delta, sw.Elapsed, delta.Count);
            }
            catch (KernelException e)
            {
                deltaError = e; // the kernel differs from what we think: read it back
            }
        }
        return Repair(desired, sw, deltaError);
    }

    /// <summary>
    /// Applies element changes computed elsewhere (<see cref="IncrementalTable.Update"/>) to a table the
    /// kernel is known to hold with skeleton <paramref name="cell"/>: one netlink batch. When the state
    /// is not known, or the kernel refuses the batch, the table is read back and repaired to
    /// <paramref name="desired"/> (called only then).
    /// </summary>
    public NftApplyResult ApplyDelta(CellSkeleton cell, TableDelta delta, Func<DesiredTable> desired)
    {
        var sw = Stopwatch.StartNew();
        if (!InSync(cell)) return Repair(desired(), sw, null);
        Applied = null; // no longer the whole table the kernel holds
        if (delta.IsEmpty) return new(NftApplyKind.None, sw.Elapsed, 0);
        _synced = null; // unknown until the kernel answers
        try
        {
            nft.Commit(delta.ToBatch());
            _synced = cell;
            return new(NftApplyKind.Delta, sw.Elapsed, delta.Count);
        }
        catch (KernelException e)
        {
            return Repair(desired(), sw, e);
        }
    }

    private NftApplyResult Repair(DesiredTable desired, Stopwatch sw, Exception? deltaError)
    {
        Applied = null;
        _synced = null;
        var kind = Reconcile(desired, out var changed);
        Applied = desired;
        _synced = desired.Cell;
        return new(kind, sw.Elapsed, changed, deltaError);
    }

    private NftApplyKind Reconcile(DesiredTable desired, out int changed)
    {
        var structure = nft.TryReadStructure();
        if (structure is null)
        {
            // No table: sets first (nothing refers to them yet), then the rules that use them.
            var all = NftScript.AllElements(desired);
            nft.Apply(NftScript.Declare());
            nft.Commit(all);
            nft.Apply(NftScript.Skeleton(desired.Cell));
            Mark(desired.Cell);
            changed = all.Count;
            return NftApplyKind.Full;
        }

        // The marker names the skeleton we wrote and the digest the kernel's listing had then: when
        // both still hold, chains, rules and set declarations are ours and only elements may differ.
        var marked = structure.Chains.Contains(NftScript.Marker(desired.Cell, structure.Digest));
        if (!marked && !SameSets(NftJson.ReadTable(nft.TryListStructure() ?? throw new InvalidOperationException("table inet weft vanished"))))
        {
            nft.Apply(NftScript.Full(desired));
            Mark(desired.Cell);
            changed = desired.ElementCount;
            return NftApplyKind.Full;
        }

        var delta = KernelDelta(desired, out changed);
        if (!delta.IsEmpty) nft.Commit(delta);
        if (!marked)
        {
            nft.Apply(NftScript.SkeletonSwap(desired.Cell, structure.Chains));
            Mark(desired.Cell);
            return NftApplyKind.Full;
        }
        return delta.IsEmpty ? NftApplyKind.None : NftApplyKind.Delta;
    }

    /// <summary>Records in the marker chain's name which skeleton was written and how the kernel lists it.</summary>
    private void Mark(CellSkeleton cell)
    {
        var structure = nft.TryReadStructure() ?? throw new InvalidOperationException("table inet weft vanished");
        var name = NftScript.Marker(cell, structure.Digest);
        var script = new System.Text.StringBuilder();
        foreach (var c in structure.Chains)
        {
            if (!NftScript.IsNotMarker(c) && c != name) script.Append("delete chain inet weft ").Append(c).Append('\n');
        }
        script.Append("add chain inet weft ").Append(name).Append('\n');
        nft.Apply(script.ToString());
    }

    private static bool SameSets(NftTable kernel)
    {
        foreach (var want in DesiredTable.Sets)
        {
            var have = kernel.FindSetOrMap(want.Name);
            if (have is null || have.Flags != want.Flags || !have.KeyTypes.SequenceEqual(want.KeyTypes) || !have.ValueTypes.SequenceEqual(want.ValueTypes)) return false;
        }
        return true;
    }

    /// <summary>
    /// The element changes from what the kernel holds (read back over netlink) to <paramref name="desired"/>,
    /// compared as <see cref="TableElement"/>s (a one-port range read back as the port is the same
    /// element), as one batch: deletions, then additions. Elements the agent could not have written
    /// (a veth name not derived from its IP) are deleted as read.
    /// </summary>
    private NftElementBatch KernelDelta(DesiredTable desired, out int changed)
    {
        var deletes = new NftElementBatch();
        var adds = new List<(TableSet Set, List<TableElement> Elements)>();
        changed = 0;
        foreach (var set in TableElements.All)
        {
            var decl = set.Declaration();
            var (ours, foreign) = ReadBack(set);
            var (stale, missing) = NftScript.SortedDiff(ours.AsSpan(), desired[set].AsSpan());
            deletes.Delete(NftFamily.Inet, DesiredTable.TableName, decl, foreign);
            deletes.Delete(NftFamily.Inet, DesiredTable.TableName, decl, TableElements.Source(set, stale));
            adds.Add((set, missing));
            changed += foreign.Length + stale.Count + missing.Count;
        }
        foreach (var (set, elements) in adds) deletes.Add(NftFamily.Inet, DesiredTable.TableName, set.Declaration(), TableElements.Source(set, elements));
        return deletes;
    }

    private readonly record struct KernelElement(TableElement Element, NftElement? Foreign);

    /// <summary>
    /// The elements of one set as the kernel lists them: ours (sorted, distinct) and any others.
    /// A hash set's dump that spans several messages restarts its walk for each one, and while the
    /// kernel resizes the table (after many additions) a restarted walk can list an element twice
    /// and miss another. Duplicates show it: the set is dumped again (a few times, briefly apart).
    /// What is still inconsistent then is harmless: duplicates are dropped (deleting one twice would
    /// fail the batch), a missed wanted element is added again (adding a present element is no
    /// error), a missed stale one waits for the next resync.
    /// </summary>
    private (ImmutableArray<TableElement> Ours, NftElement[] Foreign) ReadBack(TableSet set)
    {
        var decl = set.Declaration();
        var interval = (decl.Flags & NftSetFlags.Interval) != 0;
        for (var attempt = 1; ; attempt++)
        {
            var have = nft.ListElements(decl, (key, end, value) => TableElements.TryRead(set, key, end, value, out var e)
                ? new KernelElement(e, null)
                : new KernelElement(default, new NftElement(NftElementBatch.ReadKey(key, decl.KeyTypes, interval, end),
                    value.IsEmpty ? null : NftElementBatch.ReadKey(value, decl.ValueTypes, false))));
            var foreign = have.Where(h => h.Foreign is not null).Select(h => h.Foreign!).Distinct().ToArray();
            var listed = have.Where(h => h.Foreign is null).Select(h => h.Element).ToArray();
            var ours = DesiredTable.SortedDistinct(listed);
            var duplicates = listed.Length - ours.Length + have.Count(h => h.Foreign is not null) - foreign.Length;
            if (duplicates == 0 || attempt == 5) return (ours, foreign);
            DumpRetries++;
            Thread.Sleep(20 * attempt);
        }
    }

    /// <summary>Set dumps repeated because the kernel listed an element twice (see <see cref="ReadBack"/>).</summary>
    public int DumpRetries { get; private set; }

    /// <summary>Forgets what was applied, so the next apply reads the kernel's table back and repairs
    /// whatever differs: elements, and chains or rules changed behind the agent's back (periodic resync).</summary>
    public void Invalidate()
    {
        Applied = null;
        _synced = null;
    }

    public bool TableExists() => nft.TryReadStructure() is not null;

    /// <summary>Deletes the table (teardown).</summary>
    public void Delete()
    {
        nft.Apply(NftScript.DeleteTable);
        Invalidate();
    }
}
