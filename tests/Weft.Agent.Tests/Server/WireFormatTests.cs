using System.Text.Json;
using Weft.Agent.Policy;
using Weft.Agent.Server;

namespace Weft.Agent.Tests.Server;

public class WireFormatTests
{
    private const string Json = """
        {"revision": 7, "policies": [
          {"source": {"id": "app-a", "tag": "0001"}, "destination": {"id": "app-b", "tag": "0002", "protocol": "tcp", "ports": {"start": 8080, "end": 8090}}},
          {"source": {"id": "app-\u00e9\"x", "tag": "0003"}, "destination": {"id": "app-b", "tag": "0002", "protocol": "udp", "port": 53}}
        ], "leases": [{"underlay_ip": "198.18.0.11", "overlay_subnet": "10.255.12.0/24", "overlay_hardware_addr": "ee:ee:0a:ff:0c:00"}]}
        """;

    [Fact]
    public void A_snapshot_parses_the_same_with_or_without_the_name_pool_and_pooled_names_are_shared()
    {
        using var doc = JsonDocument.Parse(Json);
        var plain = WireFormat.ParseSnapshot(doc.RootElement);
        var names = new NamePool();
        var first = WireFormat.ParseSnapshot(doc.RootElement, names);
        var second = WireFormat.ParseSnapshot(doc.RootElement, names);
        Assert.Equal(
        [
            new PolicyRule("app-a", 1, "app-b", 2, "tcp", 8080, 8090),
            new PolicyRule("app-é\"x", 3, "app-b", 2, "udp", 53, 53),
        ], plain.Policies);
        Assert.Equal(plain.Policies, first.Policies);
        Assert.Equal(plain.Policies, second.Policies);
        Assert.Equal(7, second.Revision);
        Assert.Single(second.Leases);
        // The same name is one object, within a snapshot and across snapshots.
        Assert.Same(first.Policies[0].DestinationApp, first.Policies[1].DestinationApp);
        Assert.Same(first.Policies[0].SourceApp, second.Policies[0].SourceApp);
        Assert.Same(first.Policies[1].SourceApp, second.Policies[1].SourceApp);
        Assert.Same(first.Policies[1].Protocol, second.Policies[1].Protocol);
        Assert.NotSame(plain.Policies[0].SourceApp, second.Policies[0].SourceApp);
    }

    [Fact]
    public void The_bytes_parse_equals_the_document_parse_and_skips_what_it_does_not_know()
    {
        var json = """
            {"unknown": {"deep": [1, {"x": "y"}]}, "revision": 9, "policies": [
              {"extra": [1, 2], "source": {"id": "a", "tag": "000A", "more": {"k": 1}}, "destination": {"id": "b", "tag": "000B", "protocol": "tcp", "ports": {"start": 1, "end": 2, "step": 1}}},
              {"source": {"id": "a\u0041", "tag": "000A"}, "destination": {"id": "b", "tag": "000B", "protocol": "udp"}},
              {"source": {"id": 5, "tag": 7}, "destination": {"id": "b", "tag": "000B", "protocol": "icmp", "port": 0}}
            ], "leases": [{"underlay_ip": "198.18.0.11", "overlay_subnet": "10.255.12.0/24"}, {"underlay_ip": "nope", "overlay_subnet": "10.255.13.0/24"}, {"overlay_subnet": "10.255.14.0/24"}, 3]}
            """;
        var names = new NamePool();
        var snap = WireFormat.ParseSnapshot(System.Text.Encoding.UTF8.GetBytes(json), names);
        Assert.Equal(9, snap.Revision);
        Assert.Equal(
        [
            new PolicyRule("a", 10, "b", 11, "tcp", 1, 2),
            new PolicyRule("aA", 10, "b", 11, "udp", 0, 0),  // escaped id decoded; no port: 0
            new PolicyRule("", 0, "b", 11, "icmp", 0, 0),    // non-string id and tag: empty, no tag (0)
        ], snap.Policies);
        // Leases that do not parse (bad address, missing subnet or address, not an object) are left out.
        var lease = Assert.Single(snap.Leases);
        Assert.Equal("198.18.0.11", lease.UnderlayIp.ToString());
        Assert.Equal("", lease.HardwareAddr);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(snap.Policies, WireFormat.ParseSnapshot(doc.RootElement).Policies);
    }

    [Theory]
    [InlineData("""{"policies": [{"destination": {"id": "b", "tag": "0002"}}]}""")]                                       // no source
    [InlineData("""{"policies": [{"source": {"id": "a", "tag": "0001"}}]}""")]                                            // no destination
    [InlineData("""{"policies": [{"source": {"id": "a"}, "destination": {"id": "b", "ports": {"start": 80}}}]}""")]        // range without end
    [InlineData("""{"policies": [{"source": {"id": "a"}, "destination": {"id": "b", "port": "80"}}]}""")]                 // port not a number
    [InlineData("""{"policies": [7]}""")]                                                                                 // not an object
    [InlineData("""[1]""")]                                                                                               // not a snapshot
    [InlineData("""{"policies": [{"source": {"id": "a"}, """)]                                                            // cut off
    public void A_malformed_snapshot_fails_as_a_whole(string json)
    {
        var e = Record.Exception(() => WireFormat.ParseSnapshot(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.True(e is FormatException or JsonException or InvalidOperationException, e?.ToString() ?? "no exception");
    }

    [Theory]
    [InlineData("\"0001\"", 1)]
    [InlineData("\"00ff\"", 255)]
    [InlineData("\"FFFF\"", 0xffff)]
    [InlineData("\"0000\"", 0)]      // not a tag
    [InlineData("\"10000\"", 0)]     // above 16 bits
    [InlineData("\"zz\"", 0)]
    [InlineData("\"\"", 0)]
    [InlineData("\" 1 \"", 1)]     // white space around hex digits: as int.TryParse(HexNumber) reads it
    [InlineData("\"\\u0030\\u0030\\u0030\\u0032\"", 2)] // escaped: read through a string
    [InlineData("null", 0)]
    public void A_tag_reads_as_the_compiler_parses_it(string tagJson, int expected)
    {
        var json = """{"policies": [{"source": {"id": "a", "tag": """ + tagJson + """}, "destination": {"id": "b", "tag": "0002"}}]}""";
        var rule = Assert.Single(WireFormat.ParseSnapshot(System.Text.Encoding.UTF8.GetBytes(json)).Policies);
        Assert.Equal(expected, rule.SourceTag);
        if (tagJson.StartsWith('"') && !tagJson.Contains('\\')) Assert.Equal(PolicyCompiler.ParseTag(tagJson[1..^1]), rule.SourceTag);
    }
}
