namespace Weft.Cli.Lab;

/// <summary>
/// Who reaches whom: one cell per (source app, destination app), from every source instance to
/// every destination instance. Rendered as a table with ✓ (all attempts connected), ✗ (none) or
/// "k/n" (some).
/// </summary>
public sealed record Matrix(IReadOnlyList<string> Apps, IReadOnlyList<MatrixCell> Cells)
{
    public MatrixCell? Get(string source, string destination) => Cells.FirstOrDefault(c => c.Source == source && c.Destination == destination);

    public string Render()
    {
        var table = new Cli.Table(["from \\ to", .. Apps]);
        foreach (var src in Apps)
            table.Add([src, .. Apps.Select(dst => src == dst ? "·" : Get(src, dst)?.Symbol ?? "?")]);
        return string.Concat(table.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "  " + l + "\n"));
    }

    public static Matrix From(IReadOnlyList<string> apps, IEnumerable<CurlResult> results)
    {
        var byPair = results.GroupBy(r => (Src: AppOf(r.Source), Dst: AppOf(r.Destination)));
        var cells = byPair.Select(g => new MatrixCell(g.Key.Src, g.Key.Dst, g.Count(r => r.Ok), g.Count())).ToList();
        return new Matrix(apps, cells);
    }

    private static string AppOf(string instance) => instance.Split('/')[0];
}

public sealed record MatrixCell(string Source, string Destination, int Connected, int Attempts)
{
    public string Symbol => Connected == Attempts ? "✓" : Connected == 0 ? "✗" : $"{Connected}/{Attempts}";
    public bool All => Connected == Attempts;
    public bool None => Connected == 0;
}
