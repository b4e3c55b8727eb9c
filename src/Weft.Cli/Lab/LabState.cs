using System.Text.Json;

namespace Weft.Cli.Lab;

/// <summary>A process the lab started: its pid and start time (so a recycled pid is never killed).</summary>
public sealed record LabProcess(int Pid, long StartTicks, string Command);

public sealed record LabServer
{
    public required string Netns { get; init; }
    public required string Ip { get; init; }
    public required string Url { get; init; }
    public required string TokenFile { get; init; }
    public string? CaFile { get; init; }
    public required string Dir { get; init; }
    public LabProcess? Process { get; set; }
}

public sealed record LabCell
{
    public required string Name { get; init; }
    public required string Netns { get; init; }
    public required string UnderlayIp { get; init; }
    public required string StateDir { get; init; }
    public LabProcess? Agent { get; set; }
}

public sealed record LabInstance
{
    public required int Index { get; init; }
    public required string Cell { get; init; }
    public required string Netns { get; init; }
    public required string ContainerId { get; init; }
    public string? Ip { get; set; }
    public LabProcess? Serve { get; set; }
}

public sealed record LabApp
{
    public required string Name { get; init; }
    public required string Id { get; init; }
    public required int Port { get; init; }
    public List<LabInstance> Instances { get; init; } = new();
}

/// <summary>Everything a lab created, written to <c>/run/weft/lab/NAME/lab.json</c> after every step.</summary>
public sealed record LabState
{
    public required string Name { get; init; }
    public required string RunDir { get; init; }
    public required string FabricNetns { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public LabServer? Server { get; set; }
    public List<LabCell> Cells { get; init; } = new();
    public List<LabApp> Apps { get; init; } = new();

    public LabApp? FindApp(string nameOrId)
        => Apps.FirstOrDefault(a => a.Name == nameOrId) ?? Apps.FirstOrDefault(a => a.Id == nameOrId);

    public static LabState? Load(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize(File.ReadAllText(path), CliJson.Default.LabState); }
        catch (JsonException) { return null; }
    }

    public void Save(string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, CliJson.Default.LabState) + "\n");
        File.Move(tmp, path, overwrite: true);
    }
}
