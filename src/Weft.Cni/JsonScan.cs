using System.Globalization;
using System.Text.Json;

namespace Weft.Cni;

/// <summary>
/// One JSON value located in a document: its token kind and the byte range of its raw text (strings with their
/// quotes, objects and arrays with their brackets). <c>Kind == None</c>: the key was absent.
/// </summary>
internal readonly record struct JsonSpan(JsonTokenType Kind, int Start, int End)
{
    public bool IsAbsentOrNull => Kind is JsonTokenType.None or JsonTokenType.Null;
}

/// <summary>
/// Reads JSON objects with <see cref="Utf8JsonReader"/> alone, without building a <see cref="JsonDocument"/>: the
/// plugin parses its config on every ADD and DEL, and JsonDocument's first use (its metadata database, rented
/// from the shared ArrayPool, whose first return calibrates a per-processor cache) costs more than the rest of the
/// parsing. A pass over an object records where each wanted key's value is; values are converted afterwards, in
/// whatever order the caller validates them (so the first error reported does not depend on key order).
/// </summary>
internal static class JsonScan
{
    public static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>
    /// Scans the object at <paramref name="obj"/> and stores, for each of <paramref name="keys"/>, where its value is
    /// (the last occurrence wins, as with JsonDocument). Other keys are skipped (and validated).
    /// </summary>
    /// <exception cref="JsonException">malformed JSON.</exception>
    public static void Fields(ReadOnlySpan<byte> json, JsonSpan obj, ReadOnlySpan<string> keys, Span<JsonSpan> values)
    {
        var r = new Utf8JsonReader(json[obj.Start..obj.End], Options);
        r.Read(); // StartObject
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var which = -1;
            for (var i = 0; i < keys.Length; i++)
            {
                if (r.ValueTextEquals(keys[i]))
                {
                    which = i;
                    break;
                }
            }

            r.Read();
            var value = Capture(ref r, obj.Start);
            if (which >= 0)
            {
                values[which] = value;
            }
        }
    }

    /// <summary>The whole of <paramref name="json"/> as one value (its first token; containers are read to their end).</summary>
    /// <exception cref="JsonException">malformed JSON.</exception>
    public static JsonSpan Root(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json, Options);
        if (!r.Read())
        {
            throw new JsonException("no JSON value");
        }

        return Capture(ref r, 0);
    }

    /// <summary>The current value (a container is skipped to its end); offsets relative to the whole document.</summary>
    public static JsonSpan Capture(ref Utf8JsonReader r, int offset)
    {
        var kind = r.TokenType;
        var start = (int)r.TokenStartIndex;
        if (kind is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            r.Skip();
        }

        return new JsonSpan(kind, offset + start, offset + (int)r.BytesConsumed);
    }

    /// <summary>The elements of the array at <paramref name="array"/>.</summary>
    public static List<JsonSpan> Elements(ReadOnlySpan<byte> json, JsonSpan array)
    {
        var list = new List<JsonSpan>();
        var r = new Utf8JsonReader(json[array.Start..array.End], Options);
        r.Read(); // StartArray
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            list.Add(Capture(ref r, array.Start));
        }

        return list;
    }

    /// <summary>The raw JSON text of a value (what JsonElement.GetRawText gives).</summary>
    public static string Raw(ReadOnlySpan<byte> json, JsonSpan v) => System.Text.Encoding.UTF8.GetString(json[v.Start..v.End]);

    /// <summary>The value of a JSON string (unescaped).</summary>
    public static string Text(ReadOnlySpan<byte> json, JsonSpan v)
    {
        var r = new Utf8JsonReader(json[v.Start..v.End], Options);
        r.Read();
        return r.GetString()!;
    }

    /// <summary>A string value; null when absent or null.</summary>
    /// <exception cref="CniException">6 when it is another kind of value.</exception>
    public static string? String(ReadOnlySpan<byte> json, JsonSpan v, string name) =>
        v.IsAbsentOrNull ? null
        : v.Kind == JsonTokenType.String ? Text(json, v)
        : throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be a string");

    /// <summary>A boolean value; null when absent or null.</summary>
    /// <exception cref="CniException">6 when it is another kind of value.</exception>
    public static bool? Bool(JsonSpan v, string name) => v.Kind switch
    {
        JsonTokenType.None or JsonTokenType.Null => null,
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be true or false"),
    };

    /// <summary>An integer (a JSON number, or a string holding one); null when absent or null.</summary>
    /// <exception cref="CniException">6 for anything else.</exception>
    public static int? Int(ReadOnlySpan<byte> json, JsonSpan v, string name)
    {
        if (v.IsAbsentOrNull)
        {
            return null;
        }

        if (v.Kind == JsonTokenType.Number)
        {
            var r = new Utf8JsonReader(json[v.Start..v.End], Options);
            r.Read();
            if (r.TryGetInt32(out var i))
            {
                return i;
            }
        }
        else if (v.Kind == JsonTokenType.String && int.TryParse(Text(json, v), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
        {
            return i;
        }

        throw new CniException(CniErrorCode.DecodeFailure, $"'{name}' must be an integer");
    }
}
