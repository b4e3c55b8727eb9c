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
}
