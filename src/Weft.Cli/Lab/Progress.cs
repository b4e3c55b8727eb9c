using System.Diagnostics;

namespace Weft.Cli.Lab;

/// <summary>One line per step with its duration: "  fabric    weft-lab-demo-fabric, bridge weft-br0   12 ms".</summary>
public sealed class Progress(TextWriter output, bool quiet = false)
{
    private readonly Stopwatch _total = Stopwatch.StartNew();

    public T Step<T>(string what, string detail, Func<T> action)
    {
        var sw = Stopwatch.StartNew();
        var result = action();
        if (!quiet) output.WriteLine($"  {what,-9} {detail,-62} {sw.ElapsedMilliseconds,5} ms");
        return result;
    }

    public void Step(string what, string detail, Action action) => Step(what, detail, () => { action(); return 0; });

    /// <summary>A step whose description is known only when it is done (e.g. the lease an agent got).</summary>
    public void Step(string what, Func<string> action)
    {
        var sw = Stopwatch.StartNew();
        var detail = action();
        if (!quiet) output.WriteLine($"  {what,-9} {detail,-62} {sw.ElapsedMilliseconds,5} ms");
    }

    public void Note(string line)
    {
        if (!quiet) output.WriteLine(line);
    }

    public TimeSpan Elapsed => _total.Elapsed;
}
