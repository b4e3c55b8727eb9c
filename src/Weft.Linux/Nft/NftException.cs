using System.Text.RegularExpressions;

namespace Weft.Linux.Nft;

/// <summary>
/// nft rejected a script. Nothing of the script was applied (libnftables sends a buffer as one
/// transaction). <see cref="NftMessage"/> is nft's own error text (with its caret marks);
/// <see cref="Errno"/> is the kernel's errno when the kernel refused the batch (e.g. ENOENT for a
/// missing table, set or element, EEXIST), or 0 when nft rejected the script before sending it
/// (syntax or type error). Callers test <see cref="Errno"/>, never the text.
/// </summary>
public sealed partial class NftException : Exception
{
    public NftException(string nftMessage, int errno, string script)
        : base(Describe(nftMessage, errno, script, out int? line, out string? scriptLine))
    {
        NftMessage = nftMessage;
        Errno = errno;
        Script = script;
        Line = line;
        ScriptLine = scriptLine;
    }

    /// <summary>nft's error output, verbatim.</summary>
    public string NftMessage { get; }

    /// <summary>The kernel's errno (positive, e.g. 2 = ENOENT), or 0 when nft refused the script itself.</summary>
    public int Errno { get; }

    /// <summary>The script that was refused.</summary>
    public string Script { get; }

    /// <summary>1-based line of the script that nft blamed first, when it named one.</summary>
    public int? Line { get; }

    /// <summary>The text of <see cref="Line"/>.</summary>
    public string? ScriptLine { get; }

    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int EBUSY = 16;
    public const int EINVAL = 22;
    public const int EOPNOTSUPP = 95;

    private static string Describe(string nftMessage, int errno, string script, out int? line, out string? scriptLine)
    {
        line = null;
        scriptLine = null;
        Match m = LocationRegex().Match(nftMessage);
        if (m.Success && int.TryParse(m.Groups[1].ValueSpan, out int n))
        {
            line = n;
            string[] lines = script.Split('\n');
            if (n >= 1 && n <= lines.Length)
            {
                scriptLine = lines[n - 1];
            }
        }

        string first = nftMessage.Split('\n', 2)[0].Trim();
        if (first.Length == 0)
        {
            first = "nft failed without a message";
        }

        string where = line is null ? "" : $" (script line {line})";
        string err = errno == 0 ? "" : $" [errno {errno}]";
        return $"nft: {first}{where}{err}";
    }

    [GeneratedRegex(@"^<cmdline>:(\d+):", RegexOptions.Multiline)]
    private static partial Regex LocationRegex();
}
