using System.Text.Json;
using System.Text.Json.Serialization;

namespace Weft.Contracts;

/// <summary>
/// Source-generated JSON metadata for every API type (no reflection; safe for NativeAOT).
/// Names are snake_case as in CF's APIs; null members are omitted.
/// Use <see cref="WeftJsonContext.Default"/> to write, and <see cref="WeftJson.Lenient"/> to read
/// requests the way Go's encoding/json does (case-insensitive member names).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PoliciesRequest))]
[JsonSerializable(typeof(PoliciesResponse))]
[JsonSerializable(typeof(PoliciesRequestV0))]
[JsonSerializable(typeof(PoliciesResponseV0))]
[JsonSerializable(typeof(TagsResponse))]
[JsonSerializable(typeof(TagEntry))]
[JsonSerializable(typeof(TagRequest))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(WhoAmIResponse))]
[JsonSerializable(typeof(EmptyResponse))]
[JsonSerializable(typeof(Lease))]
[JsonSerializable(typeof(LeaseAcquireRequest))]
[JsonSerializable(typeof(LeaseReleaseRequest))]
[JsonSerializable(typeof(LeasesResponse))]
[JsonSerializable(typeof(CellRegistrationRequest))]
[JsonSerializable(typeof(CellRegistration))]
[JsonSerializable(typeof(RegistryResponse))]
[JsonSerializable(typeof(RevisionResponse))]
[JsonSerializable(typeof(IpsResponse))]
[JsonSerializable(typeof(AppsResponse))]
[JsonSerializable(typeof(WatchResponse))]
[JsonSerializable(typeof(SnapshotResponse))]
[JsonSerializable(typeof(long))]
public sealed partial class WeftJsonContext : JsonSerializerContext;

public static class WeftJson
{
    /// <summary>Reads member names case-insensitively, like Go's encoding/json (what CF clients expect).</summary>
    public static WeftJsonContext Lenient { get; } = new(new JsonSerializerOptions(WeftJsonContext.Default.Options)
    {
        PropertyNameCaseInsensitive = true,
    });
}
