using System.Text.Json;
using Weft.Contracts;

namespace Weft.Server.Policies;

/// <summary>
/// Parses and validates CF policy requests exactly as policy-server does
/// (api/policy_validator.go, api/api_v0/validator.go, api/api_policy_mapper.go): the checks run
/// in CF's order, per policy, and the first failure wins. Errors carry CF's text, already
/// prefixed the way the create/delete handlers send them ("mapper: validate policies: ...").
/// </summary>
public static class PolicyValidator
{
    public const string Prefix = "mapper: ";

    /// <summary>Parses a v1 body. Returns the policies, or null with <paramref name="error"/> set.</summary>
    public static List<PolicyKey>? ParseV1(ReadOnlySpan<byte> body, out string? error)
    {
        PoliciesRequest? payload;
        try
        {
            payload = JsonSerializer.Deserialize(body, WeftJson.Lenient.PoliciesRequest);
        }
        catch (JsonException e)
        {
            error = $"{Prefix}unmarshal json: {e.Message}";
            return null;
        }
        var policies = payload?.Policies ?? [];
        var v = ValidateV1(policies);
        if (v is not null)
        {
            error = $"{Prefix}validate policies: {v}";
            return null;
        }
        error = null;
        return policies.Select(p => new PolicyKey(p!.Source!.Id, p.Destination!.Id, p.Destination.Protocol,
            p.Destination.Ports?.Start ?? 0, p.Destination.Ports?.End ?? 0)).ToList();
    }

    /// <summary>Parses a v0 body (single port). Returns the policies (start = end = port), or null with an error.</summary>
    public static List<PolicyKey>? ParseV0(ReadOnlySpan<byte> body, out string? error)
    {
        PoliciesRequestV0? payload;
        try
        {
            payload = JsonSerializer.Deserialize(body, WeftJson.Lenient.PoliciesRequestV0);
        }
        catch (JsonException e)
        {
            error = $"{Prefix}unmarshal json: {e.Message}";
            return null;
        }
        var policies = payload?.Policies ?? [];
        var v = ValidateV0(policies);
        if (v is not null)
        {
            error = $"{Prefix}validate policies: {v}";
            return null;
        }
        error = null;
        return policies.Select(p => new PolicyKey(p!.Source!.Id, p.Destination!.Id, p.Destination.Protocol,
            p.Destination.Port, p.Destination.Port)).ToList();
    }

    /// <summary>CF v1 validation; returns the message of the first failure or null.</summary>
    public static string? ValidateV1(List<Policy> policies)
    {
        if (policies.Count == 0) return "missing policies";
        for (var i = 0; i < policies.Count; i++)
        {
            // Go decodes a missing or null object as its zero value; do the same.
            var p = policies[i] ??= new Policy();
            p.Source ??= new PolicySource();
            p.Destination ??= new PolicyDestination();
            var d = p.Destination;
            var start = d.Ports?.Start ?? 0;
            var end = d.Ports?.End ?? 0;
            if (string.IsNullOrEmpty(p.Source.Id)) return "missing source id";
            if (string.IsNullOrEmpty(d.Id)) return "missing destination id";
            if (d.Protocol != "udp" && d.Protocol != "tcp") return "invalid destination protocol, specify either udp or tcp";
            if (start > end) return $"invalid port range {start}-{end}, start must be less than or equal to end";
            if (start < 0) return $"invalid start port {start}, must be in range 1-65535";
            if (start == 0) return "missing start port";
            if (end > 65535) return $"invalid end port {end}, must be in range 1-65535";
            if (!string.IsNullOrEmpty(p.Source.Tag) || !string.IsNullOrEmpty(d.Tag)) return "tags may not be specified";
        }
        return null;
    }

    /// <summary>CF v0 validation; returns the message of the first failure or null.</summary>
    public static string? ValidateV0(List<PolicyV0> policies)
    {
        if (policies.Count == 0) return "missing policies";
        for (var i = 0; i < policies.Count; i++)
        {
            var p = policies[i] ??= new PolicyV0();
            p.Source ??= new PolicySource();
            p.Destination ??= new PolicyDestinationV0();
            var d = p.Destination;
            if (string.IsNullOrEmpty(p.Source.Id)) return "missing source id";
            if (string.IsNullOrEmpty(d.Id)) return "missing destination id";
            if (d.Protocol != "udp" && d.Protocol != "tcp") return "invalid destination protocol, specify either udp or tcp";
            if (d.Port < 0) return $"invalid port {d.Port}, must be in range 1-65535";
            if (d.Port == 0) return "missing port";
            if (!string.IsNullOrEmpty(p.Source.Tag) || !string.IsNullOrEmpty(d.Tag)) return "tags may not be specified";
        }
        return null;
    }

    /// <summary>Formats a tag id as CF does: upper-case hex, 2 digits per byte of tag length ("000C").</summary>
    public static string FormatTag(int id, int tagLength) => id.ToString(tagLength switch { 1 => "X2", 3 => "X6", _ => "X4" });
}
