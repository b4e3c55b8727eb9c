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

    /// <summary>Parses and validates stdin.</summary>
    /// <exception cref="CniException">6 for JSON that cannot be decoded, 7 for missing/invalid values, 1 for an unknown cniVersion.</exception>
    public static NetConf Parse(ReadOnlySpan<byte> json)
    {
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "network config on stdin is not valid JSON", e.Message);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "network config on stdin is not a JSON object");
            }

            var version = String(root, "cniVersion")
                ?? throw new CniException(CniErrorCode.InvalidConfig, "network config has no cniVersion", $"supported: {string.Join(", ", Cni.CniVersion.Supported)}");
            if (!Cni.CniVersion.IsSupported(version))
            {
                throw new CniException(CniErrorCode.IncompatibleVersion, $"unsupported cniVersion '{version}'",
                    $"weft-cni supports {string.Join(", ", Cni.CniVersion.Supported)}");
            }

            var name = String(root, "name") ?? throw new CniException(CniErrorCode.InvalidConfig, "network config has no name");
            Ipv4Subnet? subnet = null;
            if (String(root, "subnet") is { } subnetText)
            {
                if (!Ipv4Subnet.TryParse(subnetText, out var s) || s.PrefixLength != 24)
                {
                    throw new CniException(CniErrorCode.InvalidConfig, $"invalid subnet '{subnetText}'", "subnet must be an IPv4 /24, e.g. 10.255.12.0/24");
                }

                subnet = s;
            }

            var mtu = Int(root, "mtu");
            if (mtu is { } m && (m < 576 || m > 65535))
            {
                throw new CniException(CniErrorCode.InvalidConfig, $"invalid mtu {m}", "mtu must be between 576 and 65535");
            }

            var stateDir = String(root, "stateDir") ?? DefaultStateDir;
            var dataDir = String(root, "dataDir") ?? DefaultDataDir;
            if (!System.IO.Path.IsPathRooted(stateDir) || !System.IO.Path.IsPathRooted(dataDir))
            {
                throw new CniException(CniErrorCode.InvalidConfig, "stateDir and dataDir must be absolute paths");
            }

            return new NetConf
            {
                CniVersion = version,
                Name = name,
                Type = String(root, "type") ?? "weft-cni",
                StateDir = stateDir,
                DataDir = dataDir,
                DurableIpam = Bool(root, "durableIpam") ?? false,
                Subnet = subnet,
                Mtu = mtu,
                Metadata = ParseMetadata(root),
                PortMappings = ParsePortMappings(root),
                PrevResult = root.TryGetProperty("prevResult", out var prev) && prev.ValueKind == JsonValueKind.Object ? prev.GetRawText() : null,
                ValidAttachments = ParseValidAttachments(root),
            };
        }
    }

    /// <summary>Reads only <c>cniVersion</c> (VERSION needs nothing else; a missing stdin is fine there).</summary>
    public static string? PeekVersion(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? String(doc.RootElement, "cniVersion") : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement root)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!root.TryGetProperty("metadata", out var md) || md.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        if (md.ValueKind != JsonValueKind.Object)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "metadata must be a JSON object");
        }

        foreach (var p in md.EnumerateObject())
        {
            switch (p.Value.ValueKind)
            {
                case JsonValueKind.String:
                    result[p.Name] = p.Value.GetString()!;
                    break;
                case JsonValueKind.Number:
                case JsonValueKind.True:
                case JsonValueKind.False:
                    result[p.Name] = p.Value.GetRawText();
                    break;
                case JsonValueKind.Array:
                    // e.g. "ports":[8080,2222] -> "8080,2222"
                    var items = new List<string?>();
                    foreach (var e in p.Value.EnumerateArray())
                    {
                        items.Add(e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText());
                    }

                    result[p.Name] = string.Join(',', items);
                    break;
            }
        }

        return result;
    }

    private static List<PortMapping> ParsePortMappings(JsonElement root)
    {
        var list = new List<PortMapping>();
        if (!root.TryGetProperty("runtimeConfig", out var rc) || rc.ValueKind != JsonValueKind.Object
            || !rc.TryGetProperty("portMappings", out var pms) || pms.ValueKind == JsonValueKind.Null)
        {
            return list;
        }

        if (pms.ValueKind != JsonValueKind.Array)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "runtimeConfig.portMappings must be a JSON array");
        }

        foreach (var pm in pms.EnumerateArray())
        {
            if (pm.ValueKind != JsonValueKind.Object)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "runtimeConfig.portMappings entries must be objects");
            }

            // CNI convention (hostPort/containerPort) and Garden's (host_port/container_port).
            var host = Int(pm, "hostPort") ?? Int(pm, "host_port") ?? 0;
            var container = Int(pm, "containerPort") ?? Int(pm, "container_port") ?? 0;
            if (host is < 0 or > 65535 || container is <= 0 or > 65535)
            {
                throw new CniException(CniErrorCode.InvalidConfig, $"invalid port mapping {host}->{container}");
            }

            list.Add(new PortMapping(host, container, (String(pm, "protocol") ?? "tcp").ToLowerInvariant()));
        }

        return list;
    }

    private static List<AttachmentKey>? ParseValidAttachments(JsonElement root)
    {
        if (!root.TryGetProperty("cni.dev/valid-attachments", out var va) || va.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (va.ValueKind != JsonValueKind.Array)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "cni.dev/valid-attachments must be a JSON array");
        }

        var list = new List<AttachmentKey>();
        foreach (var a in va.EnumerateArray())
        {
            if (a.ValueKind != JsonValueKind.Object)
            {
                throw new CniException(CniErrorCode.DecodeFailure, "cni.dev/valid-attachments entries must be objects");
            }

            var id = String(a, "containerID") ?? throw new CniException(CniErrorCode.InvalidConfig, "a valid attachment has no containerID");
            var ifName = String(a, "ifname") ?? throw new CniException(CniErrorCode.InvalidConfig, "a valid attachment has no ifname");
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
