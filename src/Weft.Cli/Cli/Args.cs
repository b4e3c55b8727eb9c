namespace Weft.Cli.Cli;

/// <summary>
/// The command line after the command words: positional arguments, <c>--option value</c>,
/// <c>--option=value</c>, flags, and everything after <c>--</c> kept verbatim.
/// Hand-written (no reflection) so the NativeAOT binary stays small and starts in milliseconds.
/// Usage: declare what a command accepts with <see cref="Option"/>, <see cref="Flag"/> and
/// <see cref="Positional"/>, then call <see cref="Done"/>, which rejects anything left over.
/// </summary>
public sealed class Args
{
    private readonly List<string> _positional = new();
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private int _nextPositional;

    /// <summary>Arguments after a bare <c>--</c>, untouched (for <c>weft lab exec APP -- CMD…</c>).</summary>
    public IReadOnlyList<string> Rest { get; }

    /// <summary>The command words, for error messages ("weft policy add").</summary>
    public string Command { get; }

    /// <param name="command">The command words already consumed, e.g. "policy add".</param>
    /// <param name="args">What follows them.</param>
    /// <param name="flags">Names (without dashes) that never take a value, e.g. "json".</param>
    public Args(string command, IReadOnlyList<string> args, IEnumerable<string>? flags = null)
    {
        Command = command;
        var flagSet = new HashSet<string>(flags ?? [], StringComparer.Ordinal) { "json", "help" };
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                for (var j = i + 1; j < args.Count; j++) rest.Add(args[j]);
                break;
            }
            if (a == "-h") a = "--help";
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                var eq = a.IndexOf('=');
                string name = eq > 0 ? a[2..eq] : a[2..];
                string? value = eq > 0 ? a[(eq + 1)..] : null;
                if (value is null && !flagSet.Contains(name))
                {
                    if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                        throw new CliException($"option --{name} needs a value", $"see: weft {command} --help", ExitCodes.Usage);
                    value = args[++i];
                }
                _options[name] = value;
            }
            else
            {
                _positional.Add(a);
            }
        }
        Rest = rest;
    }

    public bool Help => Flag("help");

    /// <summary>True when the flag was given.</summary>
    public bool Flag(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) && (v is null || v is "true" or "1" or "yes");
    }

    /// <summary>The option's value, or <paramref name="fallback"/> when absent.</summary>
    public string? Option(string name, string? fallback = null)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : fallback;
    }

    public bool Has(string name) => _options.ContainsKey(name);

    /// <summary>An integer option, validated to [min, max].</summary>
    public int IntOption(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = Option(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new CliException($"--{name} must be a number from {min} to {max}, not '{s}'", $"see: weft {Command} --help", ExitCodes.Usage);
        return v;
    }

    /// <summary>The next positional argument; required ones fail with a usage message naming <paramref name="what"/>.</summary>
    public string Positional(string what)
        => PositionalOrNull() ?? throw new CliException($"missing {what}", $"usage: weft {Command} --help", ExitCodes.Usage);

    public string? PositionalOrNull()
        => _nextPositional < _positional.Count ? _positional[_nextPositional++] : null;

    /// <summary>Rejects unknown options and extra arguments; call after reading everything.</summary>
    public void Done()
    {
        foreach (var name in _options.Keys)
            if (!_used.Contains(name))
                throw new CliException($"unknown option --{name} for 'weft {Command}'", $"see: weft {Command} --help", ExitCodes.Usage);
        if (_nextPositional < _positional.Count)
            throw new CliException($"unexpected argument '{_positional[_nextPositional]}' for 'weft {Command}'", $"see: weft {Command} --help", ExitCodes.Usage);
    }
}

/// <summary>Process exit codes of <c>weft</c>.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The operation ran and failed (server error, a connection attempt failed, …).</summary>
    public const int Failed = 1;
    /// <summary>The command line was wrong; nothing was changed.</summary>
    public const int Usage = 2;
    /// <summary>The server could not be reached or refused the credentials.</summary>
    public const int Unreachable = 3;
}

/// <summary>An error for the user: what went wrong, and what to do next. Printed to stderr.</summary>
public sealed class CliException(string message, string? hint = null, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public string? Hint { get; } = hint;
    public int ExitCode { get; } = exitCode;
}
