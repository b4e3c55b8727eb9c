using System.Text.Json;
using Weft.Server.Storage;

namespace Weft.Server.Policies;

/// <summary>
/// Writes CF policy lists straight to UTF-8 JSON, member order as CF's Go structs:
/// {"total_policies":N,"policies":[{"source":{"id","tag"?},"destination":{"id","tag"?,"protocol","ports":{"start","end"}}}]}.
/// v0 writes "port" instead of "ports" and drops ranges (start != end), as CF does.
/// </summary>
public static class PolicyJson
{
    public static void WriteList(Utf8JsonWriter w, IReadOnlyCollection<PolicyRow> rows, bool withTags, int tagLength, bool v0 = false)
    {
        w.WriteStartObject();
        w.WriteNumber("total_policies"u8, v0 ? rows.Count(r => r.Start == r.End) : rows.Count);
        w.WritePropertyName("policies"u8);
        WriteArray(w, rows, withTags, tagLength, v0);
        w.WriteEndObject();
    }

    public static void WriteArray(Utf8JsonWriter w, IEnumerable<PolicyRow> rows, bool withTags, int tagLength, bool v0 = false)
    {
        w.WriteStartArray();
        foreach (var r in rows)
        {
            if (v0 && r.Start != r.End) continue;
            w.WriteStartObject();
            w.WriteStartObject("source"u8);
            w.WriteString("id"u8, r.Source);
            if (withTags) w.WriteString("tag"u8, PolicyValidator.FormatTag(r.SourceTag, tagLength));
            w.WriteEndObject();
            w.WriteStartObject("destination"u8);
            w.WriteString("id"u8, r.Destination);
            if (withTags) w.WriteString("tag"u8, PolicyValidator.FormatTag(r.DestinationTag, tagLength));
            w.WriteString("protocol"u8, r.Protocol);
            if (v0)
            {
                w.WriteNumber("port"u8, r.Start);
            }
            else
            {
                w.WriteStartObject("ports"u8);
                w.WriteNumber("start"u8, r.Start);
                w.WriteNumber("end"u8, r.End);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static byte[] ToBytes(Action<Utf8JsonWriter> write, int initialSize = 64 * 1024)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(initialSize);
        using (var w = new Utf8JsonWriter(buffer, Http.HttpUtil.WriterOptions))
            write(w);
        return buffer.WrittenSpan.ToArray();
    }
}
