namespace Weft.Cni;

/// <summary>The CNI operation a runtime asks for (CNI_COMMAND).</summary>
public enum CniCommand
{
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

/// <summary>
/// The CNI environment variables of one invocation (CNI 1.1.0 §"Parameters"), validated for the command.
/// </summary>
public sealed record CniRequest(
    CniCommand Command,
    string? ContainerId,
    string? Netns,
    string? IfName,
    IReadOnlyList<KeyValuePair<string, string>> Args,
    string? Path)
{
    /// <summary>Reads and validates CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH.</summary>
    /// <exception cref="CniException">code 4 when a variable the command needs is missing or malformed.</exception>
    public static CniRequest FromEnvironment(Func<string, string?> getenv)
    {
        var commandText = getenv("CNI_COMMAND");
        var command = commandText switch
        {
            "ADD" => CniCommand.Add,
            "DEL" => CniCommand.Del,
            "CHECK" => CniCommand.Check,
            "STATUS" => CniCommand.Status,
            "GC" => CniCommand.Gc,
            "VERSION" => CniCommand.Version,
            null or "" => throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_COMMAND is not set",
                "set CNI_COMMAND to ADD, DEL, CHECK, STATUS, GC or VERSION"),
            _ => throw new CniException(CniErrorCode.InvalidEnvironment, $"unknown CNI_COMMAND '{commandText}'",
                "CNI_COMMAND must be ADD, DEL, CHECK, STATUS, GC or VERSION"),
        };

        var containerId = Empty(getenv("CNI_CONTAINERID"));
        var netns = Empty(getenv("CNI_NETNS"));
        var ifName = Empty(getenv("CNI_IFNAME"));
        var needsAttachment = command is CniCommand.Add or CniCommand.Del or CniCommand.Check;
        if (needsAttachment)
        {
            Require("CNI_CONTAINERID", containerId);
            Require("CNI_IFNAME", ifName);
            if (command != CniCommand.Del)
            {
                Require("CNI_NETNS", netns);
            }

            if (!IsValidContainerId(containerId!))
            {
                throw new CniException(CniErrorCode.InvalidEnvironment, $"invalid CNI_CONTAINERID '{containerId}'",
                    "a container id starts with a letter or digit and holds only letters, digits, '_', '.' and '-'");
            }

            if (!IsValidIfName(ifName!))
            {
                throw new CniException(CniErrorCode.InvalidEnvironment, $"invalid CNI_IFNAME '{ifName}'",
                    "an interface name has 1-15 characters, is not '.' or '..', and holds no '/', ':' or whitespace");
            }
        }

        return new CniRequest(command, containerId, netns, ifName, ParseArgs(getenv("CNI_ARGS")), Empty(getenv("CNI_PATH")));
    }

    /// <summary>The value of a CNI_ARGS key, or null.</summary>
    public string? Arg(string key)
    {
        foreach (var kv in Args)
        {
            if (kv.Key == key)
            {
                return kv.Value;
            }
        }

        return null;
    }

    /// <summary>Parses CNI_ARGS: <c>K1=V1;K2=V2</c>. An element without '=' is malformed (code 4).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ParseArgs(string? args)
    {
        if (string.IsNullOrEmpty(args))
        {
            return [];
        }

        var list = new List<KeyValuePair<string, string>>();
        foreach (var part in args.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                throw new CniException(CniErrorCode.InvalidEnvironment, $"invalid CNI_ARGS element '{part}'",
                    "CNI_ARGS is a list of KEY=VALUE separated by ';'");
            }

            list.Add(new(part[..eq], part[(eq + 1)..]));
        }

        return list;
    }

    /// <summary>CNI 1.1.0: alphanumerics plus '_', '.', '-', starting with an alphanumeric.</summary>
    public static bool IsValidContainerId(string id)
    {
        if (id.Length == 0 || !char.IsAsciiLetterOrDigit(id[0]))
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>CNI 1.1.0: at most 15 bytes (IFNAMSIZ-1), not "." or "..", no '/', ':' or whitespace.</summary>
    public static bool IsValidIfName(string name)
    {
        if (name.Length is 0 or > 15 || name is "." or "..")
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c is '/' or ':' || char.IsWhiteSpace(c) || c > 127 || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    private static string? Empty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static void Require(string name, string? value)
    {
        if (value is null)
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"{name} is not set", $"{name} is required for this CNI_COMMAND");
        }
    }
}
