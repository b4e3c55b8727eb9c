using System.Text.Json.Serialization;

namespace Weft.Cli.Api;

// The CF v1 external policy API's JSON (reference/cf-networking.md §1.3).

public sealed record PolicyPorts([property: JsonPropertyName("start")] int Start, [property: JsonPropertyName("end")] int End)
{
    public override string ToString() => Start == End ? Start.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Start}-{End}";

    /// <summary>Parses "8080" or "8080-8090"; null when malformed or outside 1..65535 or start &gt; end.</summary>
    public static PolicyPorts? TryParse(string s)
    {
        var dash = s.IndexOf('-');
        var a = dash < 0 ? s : s[..dash];
        var b = dash < 0 ? s : s[(dash + 1)..];
        if (!int.TryParse(a, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var start)) return null;
        if (!int.TryParse(b, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var end)) return null;
        if (start < 1 || end > 65535 || start > end) return null;
        return new PolicyPorts(start, end);
    }
}

public sealed record PolicySource([property: JsonPropertyName("id")] string Id);

public sealed record PolicyDestination(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("protocol")] string Protocol,
    [property: JsonPropertyName("ports")] PolicyPorts Ports);

public sealed record Policy(
    [property: JsonPropertyName("source")] PolicySource Source,
    [property: JsonPropertyName("destination")] PolicyDestination Destination);

public sealed record PolicyRequest([property: JsonPropertyName("policies")] IReadOnlyList<Policy> Policies);

public sealed record PolicyList(
    [property: JsonPropertyName("total_policies")] int TotalPolicies,
    [property: JsonPropertyName("policies")] IReadOnlyList<Policy> Policies);

public sealed record ApiError([property: JsonPropertyName("error")] string? Error);
