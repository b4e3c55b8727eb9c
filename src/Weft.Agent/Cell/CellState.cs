using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;

namespace Weft.Agent.Cell;

/// <summary>lease.json as the plugin reads it (docs/cell-state.md).</summary>
public sealed record LeaseFile(
    [property: JsonPropertyName("subnet")] string Subnet,
    [property: JsonPropertyName("mtu")] int Mtu,
    [property: JsonPropertyName("overlay")] string Overlay,
    [property: JsonPropertyName("underlayIp")] string UnderlayIp,
    [property: JsonPropertyName("vtep")] string Vtep,
    [property: JsonPropertyName("hardwareAddr")] string? HardwareAddr = null);

/// <summary>The last state the agent enforced, persisted so a restart without the server keeps enforcing it.</summary>
public sealed record Snapshot(
    [property: JsonPropertyName("revision")] long Revision,
    [property: JsonPropertyName("policies")] List<SnapshotPolicy> Policies,
    [property: JsonPropertyName("leases")] List<SnapshotLease> Leases,
    [property: JsonPropertyName("savedAt")] DateTimeOffset SavedAt)
{
    /// <summary>The overlay ingress router's tag (0: not known); see <see cref="IngressRouter"/>.</summary>
    [JsonPropertyName("routerTag")]
    public int RouterTag { get; init; }
}

public sealed record SnapshotPolicy(string SourceApp, int SourceTag, string DestinationApp, int DestinationTag, string Protocol, int StartPort, int EndPort)
{
    public static SnapshotPolicy From(PolicyRule p) => new(p.SourceApp, p.SourceTag, p.DestinationApp, p.DestinationTag, p.Protocol, p.StartPort, p.EndPort);
    public PolicyRule ToRule() => new(SourceApp, SourceTag, DestinationApp, DestinationTag, Protocol, StartPort, EndPort);
}

public sealed record SnapshotLease(string UnderlayIp, string Subnet, string HardwareAddr)
{
    public static SnapshotLease From(Lease l) => new(l.UnderlayIp.ToString(), l.Subnet.ToString(), l.HardwareAddr);
    public Lease ToLease() => new(IPAddress.Parse(UnderlayIp), IPNetwork.Parse(Subnet), HardwareAddr);
}

[JsonSerializable(typeof(LeaseFile))]
[JsonSerializable(typeof(Snapshot))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
internal sealed partial class CellJson : JsonSerializerContext;

/// <summary>
/// The agent's side of the cell state directory: lease.json (written), containers/ (read),
/// agent.sock (bound by <see cref="ContainerWatcher"/>), and agent/snapshot.json (the agent's own).
/// </summary>
public sealed class CellState
{
    public CellState(string dir)
    {
        Dir = dir;
        Directory.CreateDirectory(ContainersDir);
        Directory.CreateDirectory(Path.Combine(dir, "agent"));
    }

    public string Dir { get; }
    public string LeasePath => Path.Combine(Dir, "lease.json");
    public string ContainersDir => Path.Combine(Dir, "containers");
    public string SocketPath => Path.Combine(Dir, "agent.sock");
    public string SnapshotPath => Path.Combine(Dir, "agent", "snapshot.json");

    public void WriteLease(LeaseFile lease) => WriteAtomic(LeasePath, JsonSerializer.SerializeToUtf8Bytes(lease, CellJson.Default.LeaseFile));

    public LeaseFile? ReadLease() => Read(LeasePath, CellJson.Default.LeaseFile);

    public void RemoveLease() => File.Delete(LeasePath);

    public void WriteSnapshot(Snapshot s) => WriteAtomic(SnapshotPath, JsonSerializer.SerializeToUtf8Bytes(s, CellJson.Default.Snapshot));

    public Snapshot? ReadSnapshot() => Read(SnapshotPath, CellJson.Default.Snapshot);

    /// <summary>
    /// All container records. A file that cannot be parsed or fails validation (see
    /// <see cref="ContainerRecordParser.Parse"/>; with <paramref name="subnet"/>, its IP must lie in it)
    /// is skipped and named in <paramref name="broken"/> with the reason, so one bad record never
    /// stops the others from being enforced.
    /// </summary>
    public List<LocalContainer> ReadContainers(List<string>? broken = null, IPNetwork? subnet = null)
    {
        var list = new List<LocalContainer>();
        foreach (var path in Directory.EnumerateFiles(ContainersDir, "*.json"))
        {
            try { list.Add(ContainerRecordParser.Parse(File.ReadAllBytes(path), subnet)); }
            catch (Exception e) when (e is IOException or JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
            {
                broken?.Add($"{Path.GetFileName(path)}: {e.Message}");
            }
        }
        return list;
    }

    private static T? Read<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) where T : class
    {
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(path), info); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    internal static void WriteAtomic(string path, byte[] bytes)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>Parses containers/&lt;id&gt;.&lt;ifname&gt;.json (docs/cell-state.md).</summary>
public static class ContainerRecordParser
{
    /// <summary>Longest app id accepted (the server stores 255).</summary>
    public const int MaxAppIdLength = 255;

    /// <summary>
    /// Parses and validates one record; throws <see cref="FormatException"/> when it is not safe to
    /// enforce: the IP is not a canonical IPv4 (inside <paramref name="subnet"/> when given), the host
    /// veth is not the name weft-cni derives from the IP (<see cref="PolicyCompiler.HostVethName"/>; it goes into nft
    /// text and the anti-spoofing set), or the app id has characters outside <c>[A-Za-z0-9._:-]</c>
    /// or is longer than <see cref="MaxAppIdLength"/>.
    /// </summary>
    public static LocalContainer Parse(ReadOnlySpan<byte> json, IPNetwork? subnet = null)
    {
        var c = ParseUnchecked(json);
        Validate(c, subnet);
        return c;
    }

    /// <summary>True when an app id is safe to use as a key and to send on: 1..255 of <c>[A-Za-z0-9._:-]</c>.</summary>
    public static bool IsSafeAppId(string s) =>
        s.Length is >= 1 and <= MaxAppIdLength && s.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '_' or ':' or '-');

    private static void Validate(LocalContainer c, IPNetwork? subnet)
    {
        if (c.Ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) throw new FormatException($"ip '{c.Ip}' is not IPv4");
        if (subnet is { } n && !n.Contains(c.Ip)) throw new FormatException($"ip {c.Ip} is outside the cell's subnet {n}");
        var veth = PolicyCompiler.HostVethName(c.Ip);
        if (!string.Equals(c.HostVeth, veth, StringComparison.Ordinal)) throw new FormatException($"hostVeth is not {veth}");
        if (c.AppId.Length > 0 && !IsSafeAppId(c.AppId)) throw new FormatException("appId has characters outside [A-Za-z0-9._:-] or is too long");
    }

    private static LocalContainer ParseUnchecked(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var r = doc.RootElement;
        string Req(string name) => r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s : throw new FormatException($"record has no {name}");
        var mappings = new List<PortMapping>();
        if (r.TryGetProperty("portMappings", out var pms) && pms.ValueKind == JsonValueKind.Array)
        {
            foreach (var pm in pms.EnumerateArray())
            {
                var proto = pm.TryGetProperty("protocol", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "tcp";
                mappings.Add(new PortMapping(pm.GetProperty("hostPort").GetInt32(), pm.GetProperty("containerPort").GetInt32(), proto));
            }
        }
        var app = r.TryGetProperty("appId", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() ?? "" : "";
        var ipText = Req("ip");
        // Canonical dotted quad only (IPAddress.Parse also takes "10.1", hex and IPv6 forms).
        if (!IPAddress.TryParse(ipText, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || ip.ToString() != ipText)
            throw new FormatException("ip is not a dotted-quad IPv4 address");
        return new LocalContainer(Req("containerId"), Req("ifName"), ip, Req("hostVeth"), app, mappings)
        {
            SpaceId = r.TryGetProperty("spaceId", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null,
            OrgId = r.TryGetProperty("orgId", out var o) && o.ValueKind == JsonValueKind.String && o.GetString() is { Length: > 0 and <= MaxAppIdLength } org
                && !org.Any(char.IsControl) ? org : null,
            // A name is only shown, never enforced: one that is too long or has control characters is dropped, not the record.
            AppName = r.TryGetProperty("appName", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() is { Length: > 0 and <= MaxAppIdLength } name
                && !name.Any(char.IsControl) ? name : null,
            InstanceIndex = r.TryGetProperty("instanceIndex", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : null,
            Ports = r.TryGetProperty("ports", out var ports) && ports.ValueKind == JsonValueKind.Array
                ? ports.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Number).Select(x => x.GetInt32()).ToList() : [],
        };
    }
}
