using System.Collections.Immutable;
using System.Text;
using Weft.Linux.Nft;

namespace Weft.Agent.Policy;

/// <summary>
/// The agent's table as nft transactions: set declarations and elements come from Weft.Linux.Nft's
/// model (<see cref="DesiredTable.Declarations"/>, <see cref="NftElementBatch"/>); the chains and
/// rules (the skeleton, which depends only on the cell) are nft text.
/// </summary>
public static class NftScript
{
    /// <summary>Deletes the table if present (used by teardown).</summary>
    public const string DeleteTable = "add table inet weft\ndelete table inet weft\n";

    /// <summary>Prefix of the empty marker chain that records which skeleton the table was built with (see <see cref="Marker"/>).</summary>
    public const string MarkerPrefix = "weft_";

    /// <summary>False for marker chains (left out of the structure digest).</summary>
    public static bool IsNotMarker(string chain) => !chain.StartsWith(MarkerPrefix, StringComparison.Ordinal);

    /// <summary>
    /// The whole table in one libnftables transaction that replaces whatever <c>inet weft</c> holds
    /// (the fallback when the kernel's sets have other types than ours; slow for large tables, since
    /// libnftables parses every element).
    /// </summary>
    public static string Full(DesiredTable t)
    {
        var table = DesiredTable.Declarations with
        {
            Sets = DesiredTable.Declarations.Sets.Select(s => s with { Elements = Elements(t, s) }).ToArray(),
            Maps = DesiredTable.Declarations.Maps.Select(m => m with { Elements = Elements(t, m) }).ToArray(),
        };
        return new NftBatch().ReplaceTable(table).Render() + Skeleton(t.Cell);
    }

    /// <summary>Creates the table and its (empty) sets and maps if missing; changes nothing that exists.</summary>
    public static string Declare() => new NftBatch().CreateTable(DesiredTable.Declarations).Render();

    /// <summary>Every element of <paramref name="t"/>, as one netlink batch (each element writes its own bytes).</summary>
    public static NftElementBatch AllElements(DesiredTable t)
    {
        var batch = new NftElementBatch();
        foreach (var set in TableElements.All) batch.Add(NftFamily.Inet, DesiredTable.TableName, set.Declaration(), TableElements.Source(set, t[set]));
        return batch;
    }

    private static NftElement[] Elements(DesiredTable t, INftSetLike set)
    {
        var which = (TableSet)DesiredTable.Sets.IndexOf(set);
        return t[which].Select(e => TableElements.ToNft(which, e)).ToArray();
    }

    /// <summary>
    /// One transaction that replaces every chain and rule of the table with the skeleton, keeping the
    /// sets and their elements: <c>flush table</c> (all rules), <c>delete chain</c> for each chain
    /// the table has now, then the skeleton's chains and rules. Packets see the old rules or the new.
    /// </summary>
    public static string SkeletonSwap(CellSkeleton cell, IEnumerable<string> existingChains)
    {
        var sb = new StringBuilder("flush table inet weft\n");
        foreach (var c in existingChains) sb.Append("delete chain inet weft ").Append(NftName.Validate(c)).Append('\n');
        return sb.Append(Skeleton(cell)).ToString();
    }

    /// <summary>
    /// The marker chain's name: <c>weft_</c> + the skeleton's id + the digest of the table's structure
    /// as the kernel lists it (<see cref="NftNetlink.TryReadStructure"/>, marker chains left out). A restarted
    /// agent whose listing still has that digest knows the rules are the ones it wrote; a rule deleted
    /// or changed by hand changes the digest.
    /// </summary>
    public static string Marker(CellSkeleton cell, string structureDigest) => MarkerPrefix + SkeletonId(cell) + "_" + structureDigest;

    /// <summary>Identifies the skeleton (chains and rules for this cell): 16 hex digits of its text's SHA-256.</summary>
    public static string SkeletonId(CellSkeleton cell)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Skeleton(cell)));
        return Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    /// <summary>The chains and rules, as a <c>table inet weft { … }</c> block (adds to an existing table).</summary>
    public static string Skeleton(CellSkeleton c)
    {
        var v = c.VethPrefix + "*";
        var cell = c.CellIp.ToString();
        var overlay = c.Overlay.ToString();
        var ingress = PolicyCompiler.Mark(PolicyCompiler.IngressMark);
        return $$"""
            table inet weft {
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                iifname "{{v}}" jump from_container
                udp dport {{c.VxlanPort}} jump underlay
              }
              chain from_container {
                udp dport {{c.VxlanPort}} drop
                meta mark set iifname . ip saddr map @containers accept
                drop
              }
              chain underlay {
                ip saddr @cells notrack accept
                fib daddr type { local, broadcast, multicast } drop
                notrack
              }
              chain output {
                type filter hook output priority raw; policy accept;
                udp dport {{c.VxlanPort}} notrack
              }
              chain forward {
                type filter hook forward priority filter; policy accept;
                ct state established,related accept
                oifname "{{v}}" jump to_container
              }
              chain to_container {
                meta mark . ip daddr . meta l4proto . th dport @allow accept
                meta mark . ip daddr . meta l4proto . th dport @allow_ranges accept
                meta mark {{ingress}} ct status dnat accept
                meta l4proto tcp reject with tcp reset
                reject with icmpx admin-prohibited
              }
              chain nat_prerouting {
                type nat hook prerouting priority dstnat; policy accept;
                iifname != "{{v}}" ip daddr {{cell}} meta l4proto . th dport @mapped meta mark set {{ingress}}
                ip daddr {{cell}} dnat ip to meta l4proto . th dport map @portmap
              }
              chain nat_output {
                type nat hook output priority -100; policy accept;
                ip daddr {{cell}} dnat ip to meta l4proto . th dport map @portmap
              }
              chain nat_postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                ip saddr {{overlay}} ip daddr != {{overlay}} meta l4proto udp masquerade to :{{c.VxlanPort + 1}}-65535
                ip saddr {{overlay}} ip daddr != {{overlay}} masquerade
              }
            }

            """;
    }

    /// <summary>
    /// The element changes that turn <paramref name="from"/> into <paramref name="to"/> (a merge walk
    /// over the sorted element arrays); empty when nothing changed.
    /// </summary>
    public static TableDelta Delta(DesiredTable from, DesiredTable to)
    {
        var changes = new List<SetDelta>();
        foreach (var set in TableElements.All)
        {
            var (removed, added) = SortedDiff(from[set].AsSpan(), to[set].AsSpan());
            if (removed.Count + added.Count > 0) changes.Add(new SetDelta(set, removed, added));
        }
        return new TableDelta(changes);
    }

    /// <summary>One merge walk over two sorted arrays: O(n) compares of two integers, no hashing.</summary>
    internal static (List<TableElement> Removed, List<TableElement> Added) SortedDiff(ReadOnlySpan<TableElement> a, ReadOnlySpan<TableElement> b)
    {
        var removed = new List<TableElement>();
        var added = new List<TableElement>();
        if (a.SequenceEqual(b)) return (removed, added);
        int i = 0, j = 0;
        while (i < a.Length || j < b.Length)
        {
            var c = i == a.Length ? 1 : j == b.Length ? -1 : a[i].CompareTo(b[j]);
            if (c == 0) { i++; j++; }
            else if (c < 0) removed.Add(a[i++]);
            else added.Add(b[j++]);
        }
        return (removed, added);
    }
}

/// <summary>Elements removed from and added to one set or map.</summary>
public sealed record SetDelta(TableSet Set, IReadOnlyList<TableElement> Removed, IReadOnlyList<TableElement> Added)
{
    /// <summary>The set's declaration.</summary>
    public INftSetLike Declaration => Set.Declaration();
}

/// <summary>Element changes between two tables with the same sets.</summary>
public sealed class TableDelta(IReadOnlyList<SetDelta> changes)
{
    public static readonly TableDelta Empty = new([]);

    public IReadOnlyList<SetDelta> Changes { get; } = changes;

    public int Count => Changes.Sum(c => c.Removed.Count + c.Added.Count);

    public bool IsEmpty => Changes.Count == 0;

    /// <summary>
    /// One netlink batch: every deletion first (so a map key whose value changed is removed before it
    /// is re-added), then every addition; the kernel applies all of it or nothing.
    /// </summary>
    public NftElementBatch ToBatch()
    {
        var batch = new NftElementBatch();
        foreach (var c in Changes) batch.Delete(NftFamily.Inet, DesiredTable.TableName, c.Declaration, TableElements.Source(c.Set, c.Removed));
        foreach (var c in Changes) batch.Add(NftFamily.Inet, DesiredTable.TableName, c.Declaration, TableElements.Source(c.Set, c.Added));
        return batch;
    }

    /// <summary>The same changes as nft commands (for logs and tests).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var c in Changes) Append(sb, "delete", c.Set, c.Removed);
        foreach (var c in Changes) Append(sb, "add", c.Set, c.Added);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, string verb, TableSet set, IReadOnlyList<TableElement> elements)
    {
        if (elements.Count == 0) return;
        sb.Append(verb).Append(" element inet weft ").Append(set.Name()).Append(" { ").AppendJoin(", ", elements.Select(e => TableElements.Text(set, e))).Append(" }\n");
    }
}
