using System.Text.RegularExpressions;

namespace Weft.Linux.Nft;

/// <summary>
/// nft rejected a script. Nothing of the script was applied (libnftables sends a buffer as one
/// transaction). <see cref="NftMessage"/> is nft's own error text (with its caret marks);
/// <see cref="KernelException.Errno"/> is the kernel's errno when the kernel refused the batch (e.g. ENOENT for a
/// missing table, set or element, EEXIST), or 0 when nft rejected the script before sending it
/// (syntax or type error). Callers test <see cref="KernelException.Errno"/>, never the text.
/// </summary>
public sealed partial class NftException : KernelException
{
    public NftException(string nftMessage, int errno, string script)
        : base(errno, "nft", nftMessage)
    {
        _message = Describe(nftMessage, errno, script, out int? line, out string? scriptLine);
        NftMessage = nftMessage;
        Script = script;
        Line = line;
        ScriptLine = scriptLine;
    }

    private readonly string _message;

    /// <summary>nft's first error line, the script line it blamed, and the errno name when there is one.</summary>
    public override string Message => _message;

    /// <summary>nft's error output, verbatim.</summary>
    public string NftMessage { get; }

    /// <summary>The script that was refused.</summary>
    public string Script { get; }

    /// <summary>1-based line of the script that nft blamed first, when it named one.</summary>
    public int? Line { get; }

    /// <summary>The text of <see cref="Line"/>.</summary>
    public string? ScriptLine { get; }

    private static string Describe(string nftMessage, int errno, string script, out int? line, out string? scriptLine)
    {
        line = null;
        scriptLine = null;
        string[] lines = script.TrimEnd('\n').Split('\n');
        Match m = LocationRegex().Match(nftMessage);
        if (m.Success && int.TryParse(m.Groups[1].ValueSpan, out int n))
        {
            line = n;
        }
        else if (lines.Length == 1 && nftMessage.Contains("Error:", StringComparison.Ordinal))
        {
            line = 1; // a one-line script: nft names no line
        }

        if (line is int l && l >= 1 && l <= lines.Length)
        {
            scriptLine = lines[l - 1];
        }

        string first = nftMessage.Split('\n', 2)[0].Trim();
        if (first.Length == 0)
        {
            first = "nft failed without a message";
        }

        string where = line is null ? "" : $" (script line {line})";
        string err = errno == 0 ? "" : $" [{Linux.Errno.Name(errno)}]";
        return $"nft: {first}{where}{err}";
    }

    /// <summary>
    /// The errno of a failure: the kernel's when it refused the batch (nft prints
    /// "Could not process rule: STRERROR" and leaves errno set); otherwise nft's own evaluation
    /// errors that name an errno by its strerror text (a missing table, set or chain: "No such file
    /// or directory"); otherwise 0.
    /// </summary>
    internal static int ErrnoOf(string message, int lastErrno)
    {
        Match m = ErrorLineRegex().Match(message);
        if (!m.Success)
        {
            return 0;
        }

        bool kernel = m.Groups[1].Success;
        int fromText = m.Groups[2].Value switch
        {
            "Operation not permitted" => Linux.Errno.EPERM,
            "No such file or directory" => Linux.Errno.ENOENT,
            "Device or resource busy" => Linux.Errno.EBUSY,
            "File exists" => Linux.Errno.EEXIST,
            "Invalid argument" => Linux.Errno.EINVAL,
            "Argument list too long" => 7,
            "Cannot allocate memory" => Linux.Errno.ENOMEM,
            "No space left on device" => Linux.Errno.ENOSPC,
            "Numerical result out of range" => Linux.Errno.ERANGE,
            "Too many links" => 31,
            "Too many levels of symbolic links" => 40,
            "Operation not supported" => Linux.Errno.EOPNOTSUPP,
            _ => 0,
        };
        // The text names the kernel's errno exactly; errno itself may have been overwritten by the
        // time nft returns, so it only fills in for strerror texts not listed here.
        return fromText != 0 ? fromText : kernel && lastErrno > 0 ? lastErrno : 0;
    }

    [GeneratedRegex(@"Error: (Could not process rule: )?([^;\n]+)")]
    private static partial Regex ErrorLineRegex();

    [GeneratedRegex(@"^\S+?:(\d+):\d+(?:-\d+)?: ", RegexOptions.Multiline)]
    private static partial Regex LocationRegex();
}
