using System.Text.Json;
using System.Text.Json.Serialization;

namespace Weft.Cli.Cli;

/// <summary>
/// Where the CLI sends its requests: the server URL, the file holding the bearer token, the CA
/// that signed the server's certificate, and — for a lab — the network namespace in which the
/// CLI opens its TCP connections (so the machine's own namespace needs no route to the lab).
/// </summary>
public sealed record Profile
{
    public required string Server { get; init; }
    public string? TokenFile { get; init; }
    public string? CaFile { get; init; }
    /// <summary>Open connections inside this named network namespace (/run/netns/NAME).</summary>
    public string? Netns { get; init; }
    /// <summary>The lab this profile belongs to, if any.</summary>
    public string? Lab { get; init; }
}

/// <summary>The CLI's configuration file: named profiles and the current one.</summary>
public sealed record CliConfig
{
    public string? Current { get; set; }
    public SortedDictionary<string, Profile> Profiles { get; init; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Reads and writes the configuration file: <c>$WEFT_CONFIG</c>, else
/// <c>$XDG_CONFIG_HOME/weft/config.json</c>, else <c>~/.config/weft/config.json</c>.
/// </summary>
public static class ProfileStore
{
    public static string Path
    {
        get
        {
            var explicitPath = Environment.GetEnvironmentVariable("WEFT_CONFIG");
            if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
            var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            var home = Environment.GetEnvironmentVariable("HOME");
            var dir = !string.IsNullOrEmpty(xdg) ? xdg : System.IO.Path.Combine(string.IsNullOrEmpty(home) ? "/root" : home, ".config");
            return System.IO.Path.Combine(dir, "weft", "config.json");
        }
    }

    public static CliConfig Load()
    {
        var path = Path;
        if (!File.Exists(path)) return new CliConfig();
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), CliJson.Default.CliConfig) ?? new CliConfig();
        }
        catch (JsonException e)
        {
            throw new CliException($"cannot read {path}: {e.Message}", $"fix or delete the file, then run `weft profile set`");
        }
    }

    public static void Save(CliConfig config)
    {
        var path = Path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(config, CliJson.Default.CliConfig) + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// The profile to use: <paramref name="name"/> (from --profile), else <c>$WEFT_PROFILE</c>, else the
    /// current one. <c>$WEFT_SERVER</c> + <c>$WEFT_TOKEN_FILE</c> override everything.
    /// </summary>
    public static (string Name, Profile Profile) Resolve(string? name)
    {
        var server = Environment.GetEnvironmentVariable("WEFT_SERVER");
        if (!string.IsNullOrEmpty(server) && name is null)
            return ("env", new Profile { Server = server, TokenFile = Environment.GetEnvironmentVariable("WEFT_TOKEN_FILE"), CaFile = Environment.GetEnvironmentVariable("WEFT_CA_FILE"), Netns = Environment.GetEnvironmentVariable("WEFT_NETNS") });
        var config = Load();
        name ??= Environment.GetEnvironmentVariable("WEFT_PROFILE") is { Length: > 0 } p ? p : config.Current;
        if (name is null)
            throw new CliException("no profile: the CLI does not know which server to talk to",
                "run `weft lab up` (a lab on this machine), or `weft profile set NAME --server URL --token-file FILE`", ExitCodes.Usage);
        if (!config.Profiles.TryGetValue(name, out var profile))
            throw new CliException($"no profile named '{name}' in {Path}",
                config.Profiles.Count == 0 ? "run `weft lab up`, or `weft profile set NAME --server URL --token-file FILE`"
                    : $"known profiles: {string.Join(", ", config.Profiles.Keys)} (weft profile list)", ExitCodes.Usage);
        return (name, profile);
    }
}
