using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Weft.Cni;

/// <summary>
/// What the plugin tells the agent about one attachment: <c>&lt;stateDir&gt;/containers/&lt;containerId&gt;.&lt;ifName&gt;.json</c>
/// (format in docs/cell-state.md). Written by ADD, removed by DEL and GC.
/// </summary>
public sealed record ContainerRecord
{
    public required string ContainerId { get; init; }

    public required string IfName { get; init; }

    public required Ipv4 Ip { get; init; }

    public string? Netns { get; init; }

    public required string HostVeth { get; init; }

    public string? AppId { get; init; }

    /// <summary>The app's human-readable name (metadata <c>app_name</c> or CNI_ARGS <c>WEFT_APP_NAME</c>).</summary>
    public string? AppName { get; init; }

    public string? SpaceId { get; init; }

    public string? OrgId { get; init; }

    public int? InstanceIndex { get; init; }

    public IReadOnlyList<int> Ports { get; init; } = [];

    public IReadOnlyList<PortMapping> PortMappings { get; init; } = [];

    public DateTimeOffset CreatedAt { get; init; }

    public AttachmentKey Key => new(ContainerId, IfName);

    /// <summary>
    /// The record's <c>ToString</c> members, written out so that <see cref="CreatedAt"/> is shown with
    /// <see cref="FormatTime"/>: the compiler's version would call DateTimeOffset.ToString, which brings the
    /// culture-aware date formatting and TimeZoneInfo into the NativeAOT plugin.
    /// </summary>
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("ContainerId = ").Append(ContainerId).Append(", IfName = ").Append(IfName)
            .Append(", Ip = ").Append(Ip.ToString()).Append(", Netns = ").Append(Netns)
            .Append(", HostVeth = ").Append(HostVeth).Append(", AppId = ").Append(AppId)
            .Append(", AppName = ").Append(AppName).Append(", SpaceId = ").Append(SpaceId)
            .Append(", OrgId = ").Append(OrgId).Append(", InstanceIndex = ").Append(InstanceIndex?.ToString(CultureInfo.InvariantCulture))
            .Append(", Ports = [").Append(string.Join(", ", Ports)).Append("], PortMappings = ").Append(PortMappings.Count)
            .Append(", CreatedAt = ").Append(FormatTime(CreatedAt));
        return true;
    }

    public byte[] ToJson()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonEscaping.Minimal }))
        {
            w.WriteStartObject();
            w.WriteString("containerId", ContainerId);
            w.WriteString("ifName", IfName);
            w.WriteString("ip", Ip.ToString());
            w.WriteString("netns", Netns);
            w.WriteString("hostVeth", HostVeth);
            w.WriteString("appId", AppId);
            w.WriteString("appName", AppName);
            w.WriteString("spaceId", SpaceId);
            w.WriteString("orgId", OrgId);
            if (InstanceIndex is { } index)
            {
                w.WriteNumber("instanceIndex", index);
            }
            else
            {
                w.WriteNull("instanceIndex");
            }

            w.WriteStartArray("ports");
            foreach (var p in Ports)
            {
                w.WriteNumberValue(p);
            }

            w.WriteEndArray();
            w.WriteStartArray("portMappings");
            foreach (var pm in PortMappings)
            {
                w.WriteStartObject();
                w.WriteNumber("hostPort", pm.HostPort);
                w.WriteNumber("containerPort", pm.ContainerPort);
                w.WriteString("protocol", pm.Protocol);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("createdAt", FormatTime(CreatedAt));
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses a record file (also for the agent).</summary>
    /// <exception cref="FormatException">when a required field is missing or malformed.</exception>
    public static ContainerRecord Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            var r = doc.RootElement;
            var ports = new List<int>();
            if (r.TryGetProperty("ports", out var pa) && pa.ValueKind == JsonValueKind.Array)
            {
                foreach (var p in pa.EnumerateArray())
                {
                    ports.Add(p.GetInt32());
                }
            }

            var mappings = new List<PortMapping>();
            if (r.TryGetProperty("portMappings", out var pma) && pma.ValueKind == JsonValueKind.Array)
            {
                foreach (var pm in pma.EnumerateArray())
                {
                    mappings.Add(new PortMapping(NetConf.Int(pm, "hostPort") ?? 0, NetConf.Int(pm, "containerPort") ?? 0, NetConf.String(pm, "protocol") ?? "tcp"));
                }
            }

            var created = NetConf.String(r, "createdAt");
            return new ContainerRecord
            {
                ContainerId = NetConf.String(r, "containerId") ?? throw new FormatException("no containerId"),
                IfName = NetConf.String(r, "ifName") ?? throw new FormatException("no ifName"),
                Ip = Ipv4.Parse(NetConf.String(r, "ip") ?? throw new FormatException("no ip")),
                Netns = NetConf.String(r, "netns"),
                HostVeth = NetConf.String(r, "hostVeth") ?? throw new FormatException("no hostVeth"),
                AppId = NetConf.String(r, "appId"),
                AppName = NetConf.String(r, "appName"),
                SpaceId = NetConf.String(r, "spaceId"),
                OrgId = NetConf.String(r, "orgId"),
                InstanceIndex = NetConf.Int(r, "instanceIndex"),
                Ports = ports,
                PortMappings = mappings,
                CreatedAt = created is null ? default : ParseTime(created),
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or CniException)
        {
            throw new FormatException($"not a container record: {e.Message}", e);
        }
    }

    /// <summary><c>createdAt</c>'s format, UTC to the second: <c>2026-11-21T22:00:00Z</c>.</summary>
    /// <remarks>
    /// Formatted and parsed here rather than with DateTime's format strings: those bring the culture-aware
    /// date formatting and parsing code (and TimeZoneInfo) into the NativeAOT plugin, which has to load it on every start.
    /// </remarks>
    public static string FormatTime(DateTimeOffset time)
    {
        var u = time.UtcDateTime;
        return string.Create(CultureInfo.InvariantCulture, $"{u.Year:D4}-{u.Month:D2}-{u.Day:D2}T{u.Hour:D2}:{u.Minute:D2}:{u.Second:D2}Z");
    }

    /// <summary>Parses <see cref="FormatTime"/>'s format.</summary>
    /// <exception cref="FormatException">for anything else.</exception>
    public static DateTimeOffset ParseTime(string text)
    {
        if (text.Length != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        {
            throw new FormatException($"createdAt '{text}' is not yyyy-MM-ddTHH:mm:ssZ");
        }

        try
        {
            return new DateTimeOffset(Digits(text, 0, 4), Digits(text, 5, 2), Digits(text, 8, 2), Digits(text, 11, 2), Digits(text, 14, 2), Digits(text, 17, 2), TimeSpan.Zero);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"createdAt '{text}' is not a valid time", e);
        }
    }

    private static int Digits(string text, int start, int length)
    {
        var v = 0;
        foreach (var c in text.AsSpan(start, length))
        {
            v = c is >= '0' and <= '9' ? (v * 10) + (c - '0') : throw new FormatException($"createdAt '{text}' is not yyyy-MM-ddTHH:mm:ssZ");
        }

        return v;
    }

    /// <summary>
    /// Builds the record of an attachment from the config's CF-style <c>metadata</c> and CNI_ARGS
    /// (<c>WEFT_APP_ID</c>, <c>WEFT_APP_NAME</c>, <c>WEFT_SPACE_ID</c>, <c>WEFT_ORG_ID</c>, <c>WEFT_INSTANCE_INDEX</c>, <c>WEFT_PORTS</c>);
    /// CNI_ARGS win over metadata.
    /// </summary>
    /// <exception cref="CniException">7 for a malformed instance index or port list.</exception>
    public static ContainerRecord Describe(CniRequest request, NetConf conf, Ipv4 ip, DateTimeOffset now)
    {
        string? Pick(string arg, params string[] keys)
        {
            if (request.Arg(arg) is { Length: > 0 } v)
            {
                return v;
            }

            foreach (var k in keys)
            {
                if (conf.Metadata.TryGetValue(k, out var m) && m.Length > 0)
                {
                    return m;
                }
            }

            return null;
        }

        int? index = null;
        if (Pick("WEFT_INSTANCE_INDEX", "instance_index", "instanceIndex") is { } indexText)
        {
            index = int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out var i)
                ? i
                : throw new CniException(CniErrorCode.InvalidConfig, $"invalid instance index '{indexText}'", "the instance index is a non-negative integer");
        }

        var ports = new List<int>();
        if (Pick("WEFT_PORTS", "ports") is { } portsText)
        {
            foreach (var part in portsText.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
                {
                    throw new CniException(CniErrorCode.InvalidConfig, $"invalid port '{part}' in '{portsText}'", "ports is a comma-separated list of 1-65535");
                }

                ports.Add(port);
            }
        }
        else
        {
            foreach (var pm in conf.PortMappings)
            {
                if (!ports.Contains(pm.ContainerPort))
                {
                    ports.Add(pm.ContainerPort);
                }
            }
        }

        return new ContainerRecord
        {
            ContainerId = request.ContainerId!,
            IfName = request.IfName!,
            Ip = ip,
            Netns = request.Netns,
            HostVeth = Naming.HostVeth(ip),
            AppId = Pick("WEFT_APP_ID", "app_id", "appId", "policy_group_id"),
            AppName = Pick("WEFT_APP_NAME", "app_name", "appName"),
            SpaceId = Pick("WEFT_SPACE_ID", "space_id", "spaceId"),
            OrgId = Pick("WEFT_ORG_ID", "org_id", "orgId"),
            InstanceIndex = index,
            Ports = ports,
            PortMappings = conf.PortMappings,
            CreatedAt = now,
        };
    }
}

/// <summary>Names and addresses derived from a container's IP (pure).</summary>
public static class Naming
{
    /// <summary>The address every host-side veth carries, the container's gateway (as in Silk).</summary>
    public static readonly Ipv4 HostSideIp = new(0xA9FE0001); // 169.254.0.1

    /// <summary><c>w-</c> + the four octets zero-padded: 10.255.12.2 → <c>w-010255012002</c> (14 chars, fits IFNAMSIZ).</summary>
    public static string HostVeth(Ipv4 ip) =>
        string.Create(CultureInfo.InvariantCulture, $"w-{ip[0]:D3}{ip[1]:D3}{ip[2]:D3}{ip[3]:D3}");

    /// <summary>The container side's MAC: <c>ee:ee:</c> + the IP's four bytes (as in Silk).</summary>
    public static byte[] ContainerMac(Ipv4 ip) => [0xee, 0xee, ip[0], ip[1], ip[2], ip[3]];

    /// <summary>The host side's MAC: <c>aa:aa:</c> + the IP's four bytes (as in Silk).</summary>
    public static byte[] HostMac(Ipv4 ip) => [0xaa, 0xaa, ip[0], ip[1], ip[2], ip[3]];

    public static string FormatMac(ReadOnlySpan<byte> mac)
    {
        var sb = new StringBuilder(17);
        for (var i = 0; i < mac.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(':');
            }

            sb.Append(mac[i].ToString("x2", CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }
}
