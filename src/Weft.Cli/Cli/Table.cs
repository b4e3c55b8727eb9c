using System.Text;

namespace Weft.Cli.Cli;

/// <summary>An aligned text table: a header row and rows, columns padded with two spaces, no trailing blanks.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = new();

    public int Count => _rows.Count;

    public Table Add(params string?[] cells)
    {
        if (cells.Length != headers.Length)
            throw new ArgumentException($"row has {cells.Length} cells, table has {headers.Length} columns");
        _rows.Add(cells.Select(c => c ?? "").ToArray());
        return this;
    }

    public override string ToString()
    {
        var widths = new int[headers.Length];
        for (var c = 0; c < headers.Length; c++)
        {
            widths[c] = headers[c].Length;
            foreach (var r in _rows) widths[c] = Math.Max(widths[c], r[c].Length);
        }
        var sb = new StringBuilder();
        AppendRow(sb, headers, widths);
        foreach (var r in _rows) AppendRow(sb, r, widths);
        return sb.ToString();
    }

    private static void AppendRow(StringBuilder sb, string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var c = 0; c < cells.Length; c++)
        {
            if (c > 0) line.Append("  ");
            line.Append(c == cells.Length - 1 ? cells[c] : cells[c].PadRight(widths[c]));
        }
        sb.Append(line.ToString().TrimEnd()).Append('\n');
    }
}
