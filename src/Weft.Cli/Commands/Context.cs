using Weft.Cli.Api;
using Weft.Cli.Cli;

namespace Weft.Cli.Commands;

/// <summary>What every command gets: output streams, --json, the chosen profile, and Ctrl-C.</summary>
public sealed class Context(TextWriter output, TextWriter error, string? profileName, bool json, CancellationToken cancel)
{
    private (string Name, Profile Profile)? _profile;

    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;
    public bool Json { get; set; } = json;
    public string? ProfileName { get; } = profileName;
    public CancellationToken Cancel { get; } = cancel;

    public Profile Profile => (_profile ??= ProfileStore.Resolve(ProfileName)).Profile;

    public WeftClient Client() => new(Profile);
}
