namespace Weft.Agent.Policy;

/// <summary>
/// Reads back <c>nft list table inet weft</c> (text output): the table's comment and the elements of each
/// set and map, in the same canonical form <see cref="PolicyCompiler"/> produces, so the kernel's table can
/// be diffed against the desired one element by element.
/// </summary>
public static class NftTableText
{
    public sealed record Parsed(string? Comment, Dictionary<string, List<string>> Elements);

    /// <summary>nft prints a one-port interval as "53"; the canonical form is "53-53".</summary>
    private static string AsRange(string element)
    {
        var i = element.LastIndexOf(" . ", StringComparison.Ordinal);
        return i >= 0 && !element.AsSpan(i + 3).Contains('-') ? $"{element}-{element[(i + 3)..]}" : element;
    }

    public static Parsed Parse(string text)
    {
        string? comment = null;
        var elements = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        string? current = null;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith("comment \"", StringComparison.Ordinal) && current is null)
            {
                comment = line[9..^1];
            }
            else if ((line.StartsWith("set ", StringComparison.Ordinal) || line.StartsWith("map ", StringComparison.Ordinal)) && line.EndsWith('{'))
            {
                current = line[4..^1].Trim();
                elements[current] = [];
            }
            else if (line.StartsWith("chain ", StringComparison.Ordinal))
            {
                current = null;
            }
            else if (current is not null && line.StartsWith("elements = {", StringComparison.Ordinal))
            {
                var body = new System.Text.StringBuilder(line["elements = {".Length..]);
                while (!body.ToString().TrimEnd().EndsWith('}') && ++i < lines.Length) body.Append(' ').Append(lines[i].Trim());
                var s = body.ToString().Trim();
                s = s[..^1]; // closing brace
                foreach (var e in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    elements[current].Add(current == "allow_ranges" ? AsRange(e) : e);
                }
            }
        }
        return new Parsed(comment, elements);
    }
}
