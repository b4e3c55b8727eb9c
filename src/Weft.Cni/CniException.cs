namespace Weft.Cni;

/// <summary>
/// Error codes of the CNI error JSON. 1–99 are the spec's (CNI 1.1.0 §"Error"); 100 and up are Weft's own.
/// </summary>
public static class CniErrorCode
{
    /// <summary>Incompatible CNI version (the config's cniVersion is not one this plugin speaks).</summary>
    public const int IncompatibleVersion = 1;
    /// <summary>Unsupported field in network configuration.</summary>
    public const int UnsupportedField = 2;
    /// <summary>Container unknown or does not exist (e.g. CNI_NETNS is not a network namespace).</summary>
    public const int UnknownContainer = 3;
    /// <summary>Invalid necessary environment variables (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS).</summary>
    public const int InvalidEnvironment = 4;
    /// <summary>I/O failure (state directory, IPAM store, records).</summary>
    public const int IoFailure = 5;
    /// <summary>Failed to decode content (stdin is not JSON, or a JSON value has the wrong type).</summary>
    public const int DecodeFailure = 6;
    /// <summary>Invalid network config (missing or bad values).</summary>
    public const int InvalidConfig = 7;
    /// <summary>Try again later (no lease from the agent yet; IPAM store busy).</summary>
    public const int TryAgainLater = 11;
    /// <summary>STATUS: the plugin is not available (cannot service ADD now).</summary>
    public const int NotAvailable = 50;
    /// <summary>STATUS: available with limited connectivity.</summary>
    public const int LimitedConnectivity = 51;

    /// <summary>Weft: an unexpected internal failure (a bug); details carry the exception.</summary>
    public const int Internal = 100;
    /// <summary>Weft: the cell's subnet has no free address left.</summary>
    public const int SubnetFull = 101;
    /// <summary>Weft: a link with the name Weft needs already exists and is not ours to replace.</summary>
    public const int InterfaceExists = 102;
    /// <summary>Weft: a kernel call (netlink, sysctl, setns) failed; details name the call and errno.</summary>
    public const int KernelError = 103;
    /// <summary>Weft: CHECK found the attachment differs from what ADD made (drift).</summary>
    public const int CheckFailed = 104;
}

/// <summary>
/// A failure the plugin reports as CNI error JSON: <c>{"cniVersion":…,"code":…,"msg":…,"details":…}</c>.
/// Everything in Weft.Cni throws this (or lets a <see cref="Weft.Linux.KernelException"/> through, which
/// the executable maps to <see cref="CniErrorCode.KernelError"/>).
/// </summary>
public sealed class CniException : Exception
{
    public CniException(int code, string message, string? details = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Details = details;
    }

    public int Code { get; }

    public string? Details { get; }
}
