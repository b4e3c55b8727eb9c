using System.Text;

namespace Weft.Linux.Nft;

/// <summary>
/// Builds one nftables transaction from the typed model: whole-table replacement and element
/// additions/deletions, in the order they were added. <see cref="Render"/> produces the script
/// (one command per line, so nft's error locations name a line); <see cref="NftContext.Apply(NftBatch)"/>
/// sends it as one atomic batch. Everything is validated while building: a batch that renders is
/// made only of checked names and values.
/// </summary>
public sealed class NftBatch
{
    /// <summary>Elements per <c>add element</c> line (keeps lines readable; all lines are one transaction).</summary>
    public const int ElementsPerLine = 1000;

    private readonly StringBuilder _script = new();

    /// <summary>
    /// Replaces the table as a whole, in this transaction: <c>add table</c> (so the delete cannot
    /// fail when it is missing), <c>delete table</c>, then the new table with its sets, maps, chains,
    /// elements and rules. The kernel commits the batch at once: packets see the old table or the
    /// new one, never none. Counters and anything added outside the model are reset.
    /// </summary>
    public NftBatch ReplaceTable(NftTable table)
    {
        Validate(table);
        string t = TableSpec(table);
        Line($"add table {t}");
        Line($"delete table {t}");
        AddTableBody(table, t);
        return this;
    }

    /// <summary>Creates the table with everything in it; fails (EEXIST) if any part already exists.</summary>
    public NftBatch CreateTable(NftTable table)
    {
        Validate(table);
        AddTableBody(table, TableSpec(table));
        return this;
    }

    /// <summary>Deletes the table if it exists (<c>add table</c> + <c>delete table</c>: never fails for a missing table).</summary>
    public NftBatch RemoveTable(NftFamily family, string name)
    {
        string t = $"{family.Keyword()} {NftName.Validate(name)}";
        Line($"add table {t}");
        Line($"delete table {t}");
        return this;
    }

    /// <summary>
    /// Adds elements to a set or map of <paramref name="table"/> (the model gives the set's types).
    /// Adding an element that is already there is not an error; to change a map element's value,
    /// delete and add it in the same batch.
    /// </summary>
    public NftBatch AddElements(NftTable table, string setOrMap, IEnumerable<NftElement> elements)
    {
        INftSetLike set = Find(table, setOrMap);
        ElementLines("add", TableSpec(table), set, elements);
        return this;
    }

    /// <summary>Deletes elements. A missing element makes the whole batch fail with ENOENT.</summary>
    public NftBatch DeleteElements(NftTable table, string setOrMap, IEnumerable<NftElement> elements)
    {
        INftSetLike set = Find(table, setOrMap);
        ElementLines("delete", TableSpec(table), set, elements);
        return this;
    }

    /// <summary>
    /// Brings a set or map from <paramref name="current"/> (e.g. <see cref="NftContext.ListElements"/>)
    /// to <paramref name="desired"/> with the fewest changes: deletes what is no longer wanted, adds
    /// what is missing (a map element whose value changed is deleted and re-added). Returns how many
    /// elements were deleted and added. Nothing is rendered when they already agree.
    /// </summary>
    public (int Deleted, int Added) SyncElements(NftTable table, string setOrMap, IEnumerable<NftElement> current, IEnumerable<NftElement> desired)
    {
        var have = current.ToHashSet();
        var want = desired.ToHashSet();
        var delete = have.Where(e => !want.Contains(e)).ToList();
        var add = want.Where(e => !have.Contains(e)).ToList();
        if (delete.Count > 0)
        {
            DeleteElements(table, setOrMap, delete);
        }

        if (add.Count > 0)
        {
            AddElements(table, setOrMap, add);
        }

        return (delete.Count, add.Count);
    }

    /// <summary>
    /// Replaces a set's or map's contents: <c>flush set</c> then the elements, in this transaction.
    /// Avoid it for large concatenated interval sets: on kernel 6.x a flush followed by re-adding
    /// 10,000 such elements in one transaction costs seconds of kernel time (pipapo); use
    /// <see cref="SyncElements"/> or <see cref="ReplaceTable"/>.
    /// </summary>
    public NftBatch ReplaceElements(NftTable table, string setOrMap, IEnumerable<NftElement> elements)
    {
        INftSetLike set = Find(table, setOrMap);
        string t = TableSpec(table);
        Line($"flush {(set is NftMap ? "map" : "set")} {t} {set.Name}");
        ElementLines("add", t, set, elements);
        return this;
    }

    /// <summary>Whether nothing was added.</summary>
    public bool IsEmpty => _script.Length == 0;

    /// <summary>The script: one command per line.</summary>
    public string Render() => _script.ToString();

    public override string ToString() => Render();

    private void AddTableBody(NftTable table, string t)
    {
        Line($"add table {t}");
        foreach (NftSet s in table.Sets)
        {
            Line($"add set {t} {s.Name} {{ type {Types(s.KeyTypes)};{FlagsClause(s.Flags)} }}");
        }

        foreach (NftMap m in table.Maps)
        {
            Line($"add map {t} {m.Name} {{ type {Types(m.KeyTypes)} : {Types(m.ValueTypes)};{FlagsClause(m.Flags)} }}");
        }

        // All chains before any rule: rules may jump to any chain.
        foreach (NftChain c in table.Chains)
        {
            if (c.Hook is { } h)
            {
                Line($"add chain {t} {c.Name} {{ type {h.Type.Keyword()} hook {h.Hook.Keyword()} priority {h.Priority}; policy {h.Policy.Keyword()}; }}");
            }
            else
            {
                Line($"add chain {t} {c.Name}");
            }
        }

        foreach (NftSet s in table.Sets)
        {
            ElementLines("add", t, s, s.Elements);
        }

        foreach (NftMap m in table.Maps)
        {
            ElementLines("add", t, m, m.Elements);
        }

        foreach (NftChain c in table.Chains)
        {
            foreach (NftRule r in c.Rules)
            {
                Line($"add rule {t} {c.Name} {RuleText(r)}");
            }
        }
    }

    internal static string RuleText(NftRule rule)
    {
        if (rule.Statements.Count == 0)
        {
            throw new ArgumentException("a rule needs at least one statement");
        }

        string text = string.Join(' ', rule.Statements.Select(s => s.ToString()));
        return rule.Comment is null ? text : $"{text} comment \"{NftStatement.ValidateComment(rule.Comment)}\"";
    }

    private void ElementLines(string verb, string t, INftSetLike set, IEnumerable<NftElement> elements)
    {
        int inLine = 0;
        foreach (NftElement e in elements)
        {
            Check(set, e);
            if (inLine == 0)
            {
                _script.Append(verb).Append(" element ").Append(t).Append(' ').Append(set.Name).Append(" { ");
            }
            else
            {
                _script.Append(", ");
            }

            AppendElement(_script, set, e);
            if (++inLine == ElementsPerLine)
            {
                _script.Append(" }\n");
                inLine = 0;
            }
        }

        if (inLine > 0)
        {
            _script.Append(" }\n");
        }
    }

    /// <summary>Checks an element against its set's types and flags and renders it.</summary>
    internal static string ElementText(INftSetLike set, NftElement e)
    {
        Check(set, e);
        var sb = new StringBuilder();
        AppendElement(sb, set, e);
        return sb.ToString();
    }

    private static void Check(INftSetLike set, NftElement e)
    {
        CheckFields(set, "key", set.KeyTypes, e.Key, allowRanges: set.Flags.HasFlag(NftSetFlags.Interval));
        if (set.ValueTypes.Count == 0)
        {
            if (e.Value is not null)
            {
                throw new ArgumentException($"set '{set.Name}' holds keys only, but element {e} has a value");
            }
        }
        else
        {
            if (e.Value is null)
            {
                throw new ArgumentException($"map '{set.Name}' needs a value for element {e}");
            }

            CheckFields(set, "value", set.ValueTypes, e.Value, allowRanges: false);
        }
    }

    private static void AppendElement(StringBuilder sb, INftSetLike set, NftElement e)
    {
        // nft 1.0.6 sends a concatenated interval element whose fields are all single values with a
        // key layout that `delete element` cannot find (ENOENT) when fields are narrower than 32
        // bits (inet_proto, inet_service). Writing the last field as the range v-v makes nft build
        // the same element the kernel holds; it reads back as the single value.
        bool lastAsRange = e.Key.Count > 1 && set.Flags.HasFlag(NftSetFlags.Interval);
        for (int i = 0; i < e.Key.Count && lastAsRange; i++)
        {
            lastAsRange = !e.Key[i].IsRange;
        }

        for (int i = 0; i < e.Key.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(" . ");
            }

            e.Key[i].AppendTo(sb, asRange: lastAsRange && i == e.Key.Count - 1);
        }

        if (e.Value is { } value)
        {
            sb.Append(" : ");
            for (int i = 0; i < value.Count; i++)
            {
                if (i > 0)
                {
                    sb.Append(" . ");
                }

                value[i].AppendTo(sb, asRange: false);
            }
        }
    }

    private static void CheckFields(INftSetLike set, string what, IReadOnlyList<NftDataType> types, IReadOnlyList<NftValue> values, bool allowRanges)
    {
        if (values.Count != types.Count)
        {
            throw new ArgumentException($"'{set.Name}' {what} has {types.Count} field(s) ({Types(types)}), got {values.Count}");
        }

        for (int i = 0; i < values.Count; i++)
        {
            if (values[i].Type == NftDataType.None)
            {
                throw new ArgumentException($"'{set.Name}' {what} field {i + 1} is an uninitialised (default) {nameof(NftValue)}");
            }

            if (values[i].Type != types[i])
            {
                throw new ArgumentException($"'{set.Name}' {what} field {i + 1} is {types[i].Keyword()}, got {values[i].Type.Keyword()} {values[i]}");
            }

            if (values[i].IsRange && !allowRanges)
            {
                throw new ArgumentException($"'{set.Name}' has no interval flag, so {what} field {i + 1} cannot be the range {values[i]}");
            }
        }
    }

    private static void Validate(NftTable table)
    {
        NftName.Validate(table.Name, "table");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (INftSetLike s in table.Sets.Cast<INftSetLike>().Concat(table.Maps))
        {
            NftName.Validate(s.Name, "set");
            if (!names.Add(s.Name))
            {
                throw new ArgumentException($"table '{table.Name}' has two sets/maps named '{s.Name}'");
            }

            if (s.KeyTypes.Count == 0 || s.KeyTypes.Contains(NftDataType.Verdict))
            {
                throw new ArgumentException($"'{s.Name}' needs key types, and a verdict cannot be a key");
            }

            if (s is NftMap m && (m.ValueTypes.Count == 0 || (m.ValueTypes.Contains(NftDataType.Verdict) && m.ValueTypes.Count > 1)))
            {
                throw new ArgumentException($"map '{s.Name}' needs value types (a verdict stands alone)");
            }
        }

        var chains = new HashSet<string>(StringComparer.Ordinal);
        foreach (NftChain c in table.Chains)
        {
            NftName.Validate(c.Name, "chain");
            if (!chains.Add(c.Name))
            {
                throw new ArgumentException($"table '{table.Name}' has two chains named '{c.Name}'");
            }
        }
    }

    private static INftSetLike Find(NftTable table, string name) =>
        table.FindSetOrMap(NftName.Validate(name)) ?? throw new ArgumentException($"table '{table.Name}' has no set or map '{name}'");

    private static string TableSpec(NftTable table) => $"{table.Family.Keyword()} {NftName.Validate(table.Name, "table")}";

    private static string Types(IReadOnlyList<NftDataType> types) => string.Join(" . ", types.Select(t => t.Keyword()));

    private static string FlagsClause(NftSetFlags flags) => flags == NftSetFlags.None ? "" : $" flags {NftKeywords.Flags(flags)};";

    private void Line(string line) => _script.Append(line).Append('\n');
}
