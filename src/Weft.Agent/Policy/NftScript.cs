using System.Text;

namespace Weft.Agent.Policy;

/// <summary>
/// Renders a <see cref="DesiredTable"/> as nft scripts: a full replacement (one transaction that
/// creates-if-missing, deletes and re-creates the table: no window in which the old table is gone
/// and the new one not yet there) or a delta of element deletions and additions.
/// </summary>
public static class NftScript
{
    /// <summary>Deletes the table if present (used by teardown).</summary>
    public const string DeleteTable = "add table inet weft\ndelete table inet weft\n";

    /// <summary>The whole table, replacing whatever table <c>inet weft</c> holds, in one transaction.</summary>
    public static string Full(DesiredTable t) => Render(t, SkeletonId(t.Cell));

    /// <summary>
    /// Identifies the skeleton (chains, rules, set declarations) a table was built with; stored as the
    /// table's comment so a restarted agent can tell whether the kernel's table is one it can patch.
    /// </summary>
    public static string SkeletonId(CellSkeleton cell)
    {
        var text = Render(new DesiredTable(cell, new Dictionary<string, System.Collections.Immutable.ImmutableSortedSet<string>>()), "");
        var hash = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return "weft-agent skeleton " + Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    private static string Render(DesiredTable t, string comment)
    {
        var c = t.Cell;
        var sb = new StringBuilder(256 + t.ElementCount * 48);
        sb.Append("add table inet weft\ndelete table inet weft\ntable inet weft {\n");
        sb.Append("  comment \"").Append(comment).Append("\"\n");
        foreach (var (name, kind, type, flags) in DesiredTable.Sets)
        {
            sb.Append("  ").Append(kind).Append(' ').Append(name).Append(" {\n    type ").Append(type).Append('\n');
            if (flags is not null) sb.Append("    flags ").Append(flags).Append('\n');
            var elements = t.Elements[name];
            if (elements.Count > 0)
            {
                sb.Append("    elements = {");
                var first = true;
                foreach (var e in elements)
                {
                    sb.Append(first ? " " : ",\n      ").Append(e);
                    first = false;
                }
                sb.Append(" }\n");
            }
            sb.Append("  }\n");
        }
        var v = c.VethPrefix + "*";
        var cell = c.CellIp.ToString();
        var overlay = c.Overlay.ToString();
        var ingress = PolicyCompiler.Mark(PolicyCompiler.IngressMark);
        sb.Append($$"""
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                udp dport {{c.VxlanPort}} jump underlay
                iifname "{{v}}" jump from_container
              }
              chain underlay {
                ip saddr != @cells fib daddr type local drop
                notrack
              }
              chain from_container {
                meta nfproto != ipv4 drop
                iifname . ip saddr != @veths drop
                meta mark set ip saddr map @src_tag
              }
              chain output {
                type filter hook output priority raw; policy accept;
                udp dport {{c.VxlanPort}} notrack
              }
              chain forward {
                type filter hook forward priority filter; policy accept;
                ct state established,related accept
                ip daddr @local_ips jump to_container
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
                ip saddr {{overlay}} ip daddr != {{overlay}} masquerade
              }
            }

            """);
        return sb.ToString();
    }

    /// <summary>
    /// The element changes that turn <paramref name="from"/> into <paramref name="to"/>, as one script
    /// (deletions first, so a map key whose value changed is removed before it is re-added); an empty
    /// string when nothing changed; null when the skeletons differ and only a full rebuild will do.
    /// </summary>
    public static string? Delta(DesiredTable from, DesiredTable to) => Delta(from, to, out _);

    public static string? Delta(DesiredTable from, DesiredTable to, out int changedElements)
    {
        changedElements = 0;
        if (!from.SameSkeleton(to)) return null;
        var deletes = new StringBuilder();
        var adds = new StringBuilder();
        foreach (var (name, _, _, _) in DesiredTable.Sets)
        {
            var a = from.Elements[name];
            var b = to.Elements[name];
            if (ReferenceEquals(a, b)) continue;
            var (removed, added) = SortedDiff(a, b);
            changedElements += Append(deletes, "delete", name, removed);
            changedElements += Append(adds, "add", name, added);
        }
        return deletes.Append(adds).ToString();
    }

    /// <summary>One merge walk over two ordinally sorted sets: O(n) compares, no hashing.</summary>
    private static (List<string> Removed, List<string> Added) SortedDiff(IEnumerable<string> a, IEnumerable<string> b)
    {
        var removed = new List<string>();
        var added = new List<string>();
        using var ea = a.GetEnumerator();
        using var eb = b.GetEnumerator();
        var ha = ea.MoveNext();
        var hb = eb.MoveNext();
        while (ha || hb)
        {
            var c = !ha ? 1 : !hb ? -1 : string.CompareOrdinal(ea.Current, eb.Current);
            if (c == 0) { ha = ea.MoveNext(); hb = eb.MoveNext(); }
            else if (c < 0) { removed.Add(ea.Current); ha = ea.MoveNext(); }
            else { added.Add(eb.Current); hb = eb.MoveNext(); }
        }
        return (removed, added);
    }

    private static int Append(StringBuilder sb, string verb, string set, IEnumerable<string> elements)
    {
        var n = 0;
        foreach (var e in elements)
        {
            sb.Append(n == 0 ? $"{verb} element inet weft {set} {{ " : ", ").Append(e);
            n++;
        }
        if (n > 0) sb.Append(" }\n");
        return n;
    }
}
