using System.Text.RegularExpressions;

namespace Weft.Linux.Tests;

internal static partial class Hex
{
    /// <summary>Bytes from hex with spaces, newlines and "# comments" allowed.</summary>
    public static byte[] Parse(string text)
    {
        var clean = Comment().Replace(text, "");
        clean = Whitespace().Replace(clean, "");
        return Convert.FromHexString(clean);
    }

    public static string Format(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);

    [GeneratedRegex("#[^\n]*")]
    private static partial Regex Comment();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
