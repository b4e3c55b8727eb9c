using System.Globalization;
using System.Text.Json;

namespace Weft.Cni;

/// <summary>A host port forwarded to the container (from <c>runtimeConfig.portMappings</c>).</summary>
public sealed record PortMapping(int HostPort, int ContainerPort, string Protocol);

/// <summary>One attachment the runtime still knows (GC's <c>cni.dev/valid-attachments</c>).</summary>
public readonly record struct AttachmentKey(string ContainerId, string IfName)
{
    public override string ToString() => $"{ContainerId}/{IfName}";
}

/// <summary>
/// The network configuration weft-cni reads on stdin. Every key is documented in docs/cni.md.
/// Unknown keys are ignored (they belong to other plugins in a chain or to the runtime).
/// </summary>
public sealed record NetConf
{
    public const string DefaultStateDir = "/run/weft";
    public const string DefaultDataDir = "/var/lib/weft";

    public required string CniVersion { get; init; }

    public required string Name { get; init; }

    public string Type { get; init; } = "weft-cni";

    /// <summary>Where the agent's lease.json, the container records and agent.sock live (docs/cell-state.md).</summary>
    public string StateDir { get; init; } = DefaultStateDir;

    /// <summary>Where the IPAM store lives (<c>&lt;dataDir&gt;/ipam/</c>); on disk so it survives reboots.</summary>
    public string DataDir { get; init; } = DefaultDataDir;

    /// <summary>fsync the IPAM store on every change (see <see cref="IpamStore"/>).</summary>
    public bool DurableIpam { get; init; }

    /// <summary>Overrides the agent's lease (standalone use, tests).</summary>
    public Ipv4Subnet? Subnet { get; init; }

    /// <summary>Overrides the agent's MTU.</summary>
    public int? Mtu { get; init; }

    /// <summary>CF-style container metadata (<c>metadata</c>: app_id, space_id, org_id, ports, instance_index …).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<PortMapping> PortMappings { get; init; } = [];

    /// <summary>The previous plugin's result in a chain (ADD) or the chain's final result (CHECK), as raw JSON.</summary>
    public string? PrevResult { get; init; }

    /// <summary>GC: the attachments to keep; null when the key is absent.</summary>
    public IReadOnlyList<AttachmentKey>? ValidAttachments { get; init; }

    private static readonly string[] RootKeys =
        ["cniVersion", "name", "type", "stateDir", "dataDir", "durableIpam", "subnet", "mtu", "metadata", "runtimeConfig", "prevResult", "cni.dev/valid-attachments"];

    /// <summary>Parses and validates stdin.</summary>
    /// <exception cref="CniException">6 for JSON that cannot be decoded, 7 for missing/invalid values, 1 for an unknown cniVersion.</exception>
    public static NetConf Parse(ReadOnlySpan<byte> json)
    {
        // Utf8JsonReader only (JsonScan): no JsonDocument on the path of every ADD and DEL.
        Span<JsonSpan> f = stackalloc JsonSpan[12];
        try
        {
            var root = JsonScan.Root(json);
            if (root.Kind != JsonTokenType.StartObject)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "network config on stdin is not a JSON object");
            }

            JsonScan.Fields(json, root, RootKeys, f);
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "network config on stdin is not valid JSON", e.Message);
        }

        var version = JsonScan.String(json, f[0], "cniVersion")
            ?? throw new CniException(CniErrorCode.InvalidConfig, "network config has no cniVersion", $"supported: {string.Join(", ", Cni.CniVersion.Supported)}");
        if (!Cni.CniVersion.IsSupported(version))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion, $"unsupported cniVersion '{version}'",
                $"weft-cni supports {string.Join(", ", Cni.CniVersion.Supported)}");
        }

        var name = JsonScan.String(json, f[1], "name") ?? throw new CniException(CniErrorCode.InvalidConfig, "network config has no name");
        Ipv4Subnet? subnet = null;
        if (JsonScan.String(json, f[6], "subnet") is { } subnetText)
        {
            if (!Ipv4Subnet.TryParse(subnetText, out var s) || s.PrefixLength != 24)
            {
                throw new CniException(CniErrorCode.InvalidConfig, $"invalid subnet '{subnetText}'", "subnet must be an IPv4 /24, e.g. 10.255.12.0/24");
            }

            subnet = s;
        }

        var mtu = JsonScan.Int(json, f[7], "mtu");
        if (mtu is { } m && (m < 576 || m > 65535))
        {
            throw new CniException(CniErrorCode.InvalidConfig, $"invalid mtu {m}", "mtu must be between 576 and 65535");
        }

        var stateDir = JsonScan.String(json, f[3], "stateDir") ?? DefaultStateDir;
        var dataDir = JsonScan.String(json, f[4], "dataDir") ?? DefaultDataDir;
        if (!System.IO.Path.IsPathRooted(stateDir) || !System.IO.Path.IsPathRooted(dataDir))
        {
            throw new CniException(CniErrorCode.InvalidConfig, "stateDir and dataDir must be absolute paths");
        }

        try
        {
            return new NetConf
            {
                CniVersion = version,
                Name = name,
                Type = JsonScan.String(json, f[2], "type") ?? "weft-cni",
                StateDir = stateDir,
                DataDir = dataDir,
                DurableIpam = JsonScan.Bool(f[5], "durableIpam") ?? false,
                Subnet = subnet,
                Mtu = mtu,
                Metadata = ParseMetadata(json, f[8]),
                PortMappings = ParsePortMappings(json, f[9]),
                PrevResult = f[10].Kind == JsonTokenType.StartObject ? JsonScan.Raw(json, f[10]) : null,
                ValidAttachments = ParseValidAttachments(json, f[11]),
            };
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "network config on stdin is not valid JSON", e.Message);
        }
    }

    /// <summary>Reads only <c>cniVersion</c> (VERSION needs nothing else; a missing stdin is fine there).</summary>
    public static string? PeekVersion(ReadOnlySpan<byte> json)
    {
        try
        {
            var root = JsonScan.Root(json);
            if (root.Kind != JsonTokenType.StartObject)
            {
                return null;
            }

            Span<JsonSpan> f = stackalloc JsonSpan[1];
            JsonScan.Fields(json, root, ["cniVersion"], f);
            return f[0].Kind == JsonTokenType.String ? JsonScan.Text(json, f[0]) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static Dictionary<string, string> ParseMetadata(ReadOnlySpan<byte> json, JsonSpan md)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (md.IsAbsentOrNull)
        {
            return result;
        }

        if (md.Kind != JsonTokenType.StartObject)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "metadata must be a JSON object");
        }

        var r = new Utf8JsonReader(json[md.Start..md.End], JsonScan.Options);
        r.Read();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var key = r.GetString()!;
            r.Read();
            var v = JsonScan.Capture(ref r, md.Start);
            switch (v.Kind)
            {
                case JsonTokenType.String:
                    result[key] = JsonScan.Text(json, v);
                    break;
                case JsonTokenType.Number:
                case JsonTokenType.True:
                case JsonTokenType.False:
                    result[key] = JsonScan.Raw(json, v);
                    break;
                case JsonTokenType.StartArray:
                    // e.g. "ports":[8080,2222] -> "8080,2222"
                    var items = new List<string>();
                    foreach (var e in JsonScan.Elements(json, v))
                    {
                        items.Add(e.Kind == JsonTokenType.String ? JsonScan.Text(json, e) : JsonScan.Raw(json, e));
                    }

                    result[key] = string.Join(',', items);
                    break;
            }
        }

        return result;
    }

    private static readonly string[] MappingKeys = ["hostPort", "host_port", "containerPort", "container_port", "protocol"];

    private static List<PortMapping> ParsePortMappings(ReadOnlySpan<byte> json, JsonSpan rc)
    {
        var list = new List<PortMapping>();
        if (rc.Kind != JsonTokenType.StartObject)
        {
            return list;
        }

        Span<JsonSpan> f = stackalloc JsonSpan[1];
        JsonScan.Fields(json, rc, ["portMappings"], f);
        var pms = f[0];
        if (pms.IsAbsentOrNull)
        {
            return list;
        }

        if (pms.Kind != JsonTokenType.StartArray)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "runtimeConfig.portMappings must be a JSON array");
        }

        Span<JsonSpan> pf = stackalloc JsonSpan[5];
        foreach (var pm in JsonScan.Elements(json, pms))
        {
            if (pm.Kind != JsonTokenType.StartObject)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "runtimeConfig.portMappings entries must be objects");
            }

            pf.Clear();
            JsonScan.Fields(json, pm, MappingKeys, pf);

            // CNI convention (hostPort/containerPort) and Garden's (host_port/container_port).
            var host = JsonScan.Int(json, pf[0], "hostPort") ?? JsonScan.Int(json, pf[1], "host_port") ?? 0;
            var container = JsonScan.Int(json, pf[2], "containerPort") ?? JsonScan.Int(json, pf[3], "container_port") ?? 0;
            if (host is < 0 or > 65535 || container is <= 0 or > 65535)
            {
                throw new CniException(CniErrorCode.InvalidConfig, $"invalid port mapping {host}->{container}");
            }

            list.Add(new PortMapping(host, container, (JsonScan.String(json, pf[4], "protocol") ?? "tcp").ToLowerInvariant()));
        }

        return list;
    }

    private static readonly string[] AttachmentKeys = ["containerID", "ifname"];

    private static List<AttachmentKey>? ParseValidAttachments(ReadOnlySpan<byte> json, JsonSpan va)
    {
        if (va.IsAbsentOrNull)
        {
            return null;
        }

        if (va.Kind != JsonTokenType.StartArray)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "cni.dev/valid-attachments must be a JSON array");
        }

        var list = new List<AttachmentKey>();
        Span<JsonSpan> f = stackalloc JsonSpan[2];
        foreach (var a in JsonScan.Elements(json, va))
        {
            if (a.Kind != JsonTokenType.StartObject)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "cni.dev/valid-attachments entries must be objects");
            }

            f.Clear();
            JsonScan.Fields(json, a, AttachmentKeys, f);
            var id = JsonScan.String(json, f[0], "containerID") ?? throw new CniException(CniErrorCode.InvalidConfig, "a valid attachment has no containerID");
            var ifName = JsonScan.String(json, f[1], "ifname") ?? throw new CniException(CniErrorCode.InvalidConfig, "a valid attachment has no ifname");
            list.Add(new AttachmentKey(id, ifName));
        }

        return list;
    }

    internal static string? String(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be a string");
    }

    internal static bool? Bool(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be true or false"),
        };
    }

    internal static int? Int(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i))
        {
            return i;
        }

        if (v.ValueKind == JsonValueKind.String && int.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out i))
        {
            return i;
        }

        throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be an integer");
    }
}
