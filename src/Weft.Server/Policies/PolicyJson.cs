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
            WriteRow(w, r, withTags, tagLength, v0);
        }
        w.WriteEndArray();
    }

    /// <summary>One policy object.</summary>
    public static void WriteRow(Utf8JsonWriter w, PolicyRow r, bool withTags, int tagLength, bool v0)
    {
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

    /// <summary>Serialises the rows whose fragment is missing in <paramref name="cache"/> (one writer for all; v0 skips ranges).</summary>
    public static void FillFragments(PolicyRow[] rows, byte[]?[] cache, bool withTags, int tagLength, bool v0)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using var w = new Utf8JsonWriter(buffer, Http.HttpUtil.WriterOptions);
        for (var i = 0; i < rows.Length; i++)
        {
            if (cache[i] is not null || (v0 && rows[i].Start != rows[i].End)) continue;
            buffer.ResetWrittenCount();
            w.Reset(buffer);
            WriteRow(w, rows[i], withTags, tagLength, v0);
            w.Flush();
            cache[i] = buffer.WrittenSpan.ToArray();
        }
    }

    /// <summary>One policy object as UTF-8 JSON (an element of the "policies" array).</summary>
    public static byte[] RowBytes(PolicyRow row, bool withTags, int tagLength, bool v0)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, Http.HttpUtil.WriterOptions))
            WriteArray(w, [row], withTags, tagLength, v0);
        return buffer.WrittenSpan[1..^1].ToArray();
    }

    /// <summary>{"total_policies":count,"policies":[f,f,...]} from row fragments (null ones skipped); <paramref name="size"/> bounds the fragments' bytes plus one separator each.</summary>
    public static byte[] Concat(int count, byte[]?[] fragments, long size)
    {
        var head = System.Text.Encoding.ASCII.GetBytes($"{{\"total_policies\":{count},\"policies\":[");
        var result = new byte[head.Length + size + 2 - (count > 0 ? 1 : 0)];
        head.CopyTo(result, 0);
        var at = head.Length;
        var first = true;
        foreach (var f in fragments)
        {
            if (f is null) continue;
            if (!first) result[at++] = (byte)',';
            first = false;
            f.CopyTo(result, at);
            at += f.Length;
        }
        result[at++] = (byte)']';
        result[at++] = (byte)'}';
        return at == result.Length ? result : throw new InvalidOperationException("fragment sizes changed");
    }

    public static byte[] ToBytes(Action<Utf8JsonWriter> write, int initialSize = 64 * 1024)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(initialSize);
        using (var w = new Utf8JsonWriter(buffer, Http.HttpUtil.WriterOptions))
            write(w);
        return buffer.WrittenSpan.ToArray();
    }
}
