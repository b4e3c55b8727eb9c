using System.Diagnostics;

namespace Weft.Cni;

/// <summary>
/// Phase timings on stderr when <c>WEFT_CNI_TRACE=1</c> (for finding where an ADD or DEL spends its time;
/// runtimes ignore a plugin's stderr). Off by default; costs one environment lookup.
/// </summary>
public static class CniTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("WEFT_CNI_TRACE") == "1";
    private static readonly long Start = Stopwatch.GetTimestamp();

    public static void Mark(string what)
    {
        if (Enabled)
        {
            var ms = Stopwatch.GetElapsedTime(Start).TotalMilliseconds;
            Console.Error.WriteLine($"weft-cni trace {ms,8:F3} ms  {what}");
        }
    }
}
