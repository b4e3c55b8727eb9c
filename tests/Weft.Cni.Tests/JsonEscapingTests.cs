using System.Text;
using System.Text.Json;

namespace Weft.Cni.Tests;

/// <summary>weft-cni's own JSON escaping: what it writes parses back to what it was given.</summary>
public sealed class JsonEscapingTests
{
    private static string RoundTrip(string value, bool utf8)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonEscaping.Minimal }))
        {
            w.WriteStartObject();
            if (utf8)
            {
                w.WriteString("k\"ey"u8, Encoding.UTF8.GetBytes(value));
            }
            else
            {
                w.WriteString("k\"ey", value);
            }

            w.WriteEndObject();
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.GetProperty("k\"ey").GetString()!;
    }

    [Theory]
    [InlineData("plain-container-id_0123")]
    [InlineData("quote \" backslash \\ slash /")]
    [InlineData("tab\tnewline\ncr\rbell\u0007nul\0del\u007f")]
    [InlineData("<script>&'</script>")]
    [InlineData("ünïcødé ✓ 日本語 😀")]
    [InlineData("line\u2028separator\u2029")]
    public void Strings_survive_a_round_trip(string value)
    {
        Assert.Equal(value, RoundTrip(value, utf8: false));
        Assert.Equal(value, RoundTrip(value, utf8: true));
    }

    [Fact]
    public void Only_what_json_needs_is_escaped_and_the_rest_is_utf8()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonEscaping.Minimal }))
        {
            w.WriteStringValue("a\"b\\c\nd\u0001<é>😀");
        }

        Assert.Equal("\"a\\\"b\\\\c\\nd\\u0001<é>😀\"", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        Assert.Equal("a\uFFFDb", RoundTrip("a\uD800b", utf8: false));
    }
}
