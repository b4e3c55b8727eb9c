using System.Diagnostics;
using Weft.Agent.Policy;
using Weft.Linux.Nft;

namespace Weft.Agent.Dataplane;

/// <summary>What the enforcer needs from nftables (a libnftables context in the cell's namespace).</summary>
public interface INftRunner
{
    /// <summary>Applies a script as one transaction; throws on refusal (nothing applied).</summary>
    void Apply(string script);

    /// <summary>The table as nft's text listing, or null when it does not exist.</summary>
    string? TryListTable();
}

/// <summary>libnftables-backed runner for the calling thread's (or the context's) namespace.</summary>
public sealed class LibNftRunner(NftContext ctx) : INftRunner, IDisposable
{
    public void Apply(string script) => ctx.Apply(script);
    public string? TryListTable()
    {
        if (ctx.TryListTableJson(NftFamily.Inet, DesiredTable.TableName) is null) return null;
        return ctx.Run("list table inet weft");
    }
    public void Dispose() => ctx.Dispose();
}

public enum NftApplyKind { None, Delta, Full }

public sealed record NftApplyResult(NftApplyKind Kind, TimeSpan Duration, int Elements, Exception? DeltaError = null);

/// <summary>
/// Keeps <c>inet weft</c> equal to the desired table: element deltas when the kernel holds what was last
/// applied, otherwise (first apply, skeleton change, a refused delta, a table changed behind our back) one
/// atomic full replacement. Not thread-safe: one reconcile loop drives it.
/// </summary>
public sealed class NftEnforcer(INftRunner nft)
{
    /// <summary>What the kernel holds as far as we know (null: unknown, the next apply is a full one).</summary>
    public DesiredTable? Applied { get; private set; }

    public NftApplyResult Apply(DesiredTable desired)
    {
        var sw = Stopwatch.StartNew();
        Exception? deltaError = null;
        Applied ??= Adopt(desired.Cell);
        if (Applied is { } prev)
        {
            var delta = NftScript.Delta(prev, desired, out var changed);
            if (delta is "") return new(NftApplyKind.None, sw.Elapsed, 0);
            if (delta is not null)
            {
                try
                {
                    nft.Apply(delta);
                    Applied = desired;
                    return new(NftApplyKind.Delta, sw.Elapsed, changed);
                }
                catch (Exception e) when (e is NftException or InvalidOperationException)
                {
                    deltaError = e; // the kernel differs from what we think: rebuild
                }
            }
        }
        Applied = null;
        nft.Apply(NftScript.Full(desired));
        Applied = desired;
        return new(NftApplyKind.Full, sw.Elapsed, desired.ElementCount, deltaError);
    }

    /// <summary>Forgets what was applied, so the next apply reads the kernel's table back and patches
    /// whatever differs (periodic resync; a table changed behind the agent's back is repaired).</summary>
    public void Invalidate() => Applied = null;

    /// <summary>
    /// Reads the kernel's table back; when it was built with the same skeleton, returns its content
    /// (so the next apply is a delta and correct elements are never touched: a restart opens no window),
    /// else null (the next apply replaces it atomically).
    /// </summary>
    public DesiredTable? Adopt(CellSkeleton cell)
    {
        string? text;
        try { text = nft.TryListTable(); }
        catch (Exception e) when (e is NftException or InvalidOperationException) { return null; }
        if (text is null) return null;
        var parsed = NftTableText.Parse(text);
        if (parsed.Comment != NftScript.SkeletonId(cell)) return null;
        var elements = new Dictionary<string, System.Collections.Immutable.ImmutableSortedSet<string>>(StringComparer.Ordinal);
        foreach (var (name, _, _, _) in DesiredTable.Sets)
        {
            if (!parsed.Elements.TryGetValue(name, out var list)) return null;
            elements[name] = System.Collections.Immutable.ImmutableSortedSet.CreateRange(StringComparer.Ordinal, list);
        }
        return new DesiredTable(cell, elements);
    }

    public bool TableExists() => nft.TryListTable() is not null;

    /// <summary>Deletes the table (teardown).</summary>
    public void Delete()
    {
        nft.Apply(NftScript.DeleteTable);
        Applied = null;
    }
}
