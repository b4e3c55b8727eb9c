using System.Diagnostics;

namespace Weft.Cni;

/// <summary>
/// Phase timings on stderr when <c>WEFT_CNI_TRACE=1</c> (for finding where an ADD or DEL spends its time;
/// runtimes ignore a plugin's stderr). Off by default; costs one environment lookup. Times count from the first
/// mark ("main"), so the process start and runtime initialization before it are not included.
/// </summary>
public static class CniTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("WEFT_CNI_TRACE") == "1";
    private static readonly long Start = Stopwatch.GetTimestamp();

    public static void Mark(string what)
    {
        if (Enabled)
        {
            // write(2) on fd 2, not System.Console: initializing Console.Error costs more than most steps it would time.
            // Microseconds as integers: floating-point formatting would bring its code into the binary for this alone.
            var us = (long)Stopwatch.GetElapsedTime(Start).TotalMicroseconds;
            Native.WriteAll(2, System.Text.Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"weft-cni trace {us / 1000,4}.{us % 1000:D3} ms  {what}\n")));
        }
    }
}
