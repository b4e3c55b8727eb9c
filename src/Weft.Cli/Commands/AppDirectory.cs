using System.Text.Json;
using Weft.Cli.Api;
using Weft.Cli.Cli;
using Weft.Cli.Lab;

namespace Weft.Cli.Commands;

/// <summary>
/// App names ↔ app ids, from the server's registry (GET /weft/v1/apps, names from container
/// metadata) and, for a lab profile, the lab's own record of the apps it pushed.
/// </summary>
public sealed class AppDirectory
{
    private readonly Dictionary<string, string> _idByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nameById = new(StringComparer.Ordinal);

    public void Add(string id, string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        _idByName.TryAdd(name, id);
        _nameById.TryAdd(id, name);
    }

    /// <param name="apps">GET /weft/v1/apps already fetched by the caller; fetched here when null.</param>
    public static async Task<AppDirectory> Load(WeftClient client, Profile profile, CancellationToken ct, JsonDocument? apps = null)
    {
        var dir = new AppDirectory();
        if (profile.Lab is { } lab && LabState.Load(LabPlan.For(lab).StateFile) is { } state)
            foreach (var a in state.Apps) dir.Add(a.Id, a.Name);
        try
        {
            using var fetched = apps is null ? await client.GetDocument("/weft/v1/apps", ct) : null;
            foreach (var a in InfoCommands.Array((apps ?? fetched)!.RootElement, "apps"))
                if (InfoCommands.Str(a, "id") is { } id)
                    dir.Add(id, a.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null);
        }
        catch (CliException e) when (e.ExitCode != ExitCodes.Unreachable)
        {
            // A server without the Weft registry (plain CF API): ids only.
        }
        return dir;
    }

    /// <summary>The id for a name; an unknown name is taken as an id (CF app GUIDs), with a note on stderr.</summary>
    public string Resolve(string nameOrId, TextWriter notes)
    {
        if (_idByName.TryGetValue(nameOrId, out var id)) return id;
        if (!_nameById.ContainsKey(nameOrId) && !LooksLikeId(nameOrId))
            notes.WriteLine($"note: no app named '{nameOrId}' is known; using it as an app id");
        return nameOrId;
    }

    public string? NameOf(string id) => _nameById.GetValueOrDefault(id);

    public string Display(string id) => _nameById.TryGetValue(id, out var n) ? n : id;

    private static bool LooksLikeId(string s) => Guid.TryParse(s, out _);
}
