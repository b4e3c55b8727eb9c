using System.Text.Json.Serialization;
using Weft.Cli.Api;
using Weft.Cli.Cli;

namespace Weft.Cli;

/// <summary>Source-generated JSON for everything the CLI reads and writes (no reflection: NativeAOT).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CliConfig))]
[JsonSerializable(typeof(PolicyRequest))]
[JsonSerializable(typeof(PolicyList))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(Lab.LabState))]
[JsonSerializable(typeof(Lab.LabStatus))]
[JsonSerializable(typeof(Lab.CurlResult))]
[JsonSerializable(typeof(List<Lab.CurlResult>))]
[JsonSerializable(typeof(Lab.Matrix))]
public sealed partial class CliJson : JsonSerializerContext;
