using System.Net;
using Weft.Agent.Cell;
using Weft.Agent.Policy;
using Weft.Agent.Tests.Policy;

namespace Weft.Agent.Tests.Cell;

public sealed class ContainerRecordTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "weft-cellstate-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    private static string Record(string id, string ip, string veth, string app = "app-a") =>
        $$"""{"containerId":"{{id}}","ifName":"eth0","ip":"{{ip}}","hostVeth":{{System.Text.Json.JsonSerializer.Serialize(veth)}},"appId":{{System.Text.Json.JsonSerializer.Serialize(app)}}}""";

    [Fact]
    public void Bad_records_are_skipped_and_named_and_the_good_ones_are_kept()
    {
        var state = new CellState(_dir);
        void Put(string id, string json) => File.WriteAllText(Path.Combine(state.ContainersDir, id + ".eth0.json"), json);
        Put("good1", Record("good1", "10.255.12.2", "w-010255012002"));
        Put("good2", Record("good2", "10.255.12.3", "w-010255012003"));
        Put("quote", Record("quote", "10.255.12.4", "w-\"; flush ruleset"));
        Put("wild", Record("wild", "10.255.12.5", "w-*"));
        Put("long", Record("long", "10.255.12.6", "w-0102550120060"));
        Put("other", Record("other", "10.255.12.7", "w-010255012008")); // another container's name
        Put("outside", Record("outside", "10.255.13.2", "w-010255013002"));
        Put("v6", Record("v6", "fd00::2", "w-fd00"));
        Put("short", Record("short", "10.1", "w-010000000001"));
        Put("appid", Record("appid", "10.255.12.9", "w-010255012009", "a\"b"));

        var broken = new List<string>();
        var got = state.ReadContainers(broken, IPNetwork.Parse("10.255.12.0/24"));

        Assert.Equal(["good1", "good2"], got.Select(c => c.ContainerId).Order(StringComparer.Ordinal));
        Assert.Equal(8, broken.Count);
        Assert.Contains(broken, b => b.StartsWith("outside.eth0.json", StringComparison.Ordinal) && b.Contains("subnet", StringComparison.Ordinal));
    }

    [Fact]
    public void Compiler_skips_a_container_whose_veth_is_not_the_derived_name_and_keeps_the_others()
    {
        var good = Samples.Container("c1", "10.255.12.2", "app-b", new PortMapping(61001, 8080, "tcp"));
        var bad = new LocalContainer("c2", "eth0", IPAddress.Parse("10.255.12.3"), "w-*", "app-b", [new PortMapping(61002, 8080, "tcp")]);
        var policy = new PolicyRule("app-a", 1, "app-b", 2, "tcp", 8080, 8080);
        var stats = new CompileStats();

        var t = PolicyCompiler.Compute(Samples.Inputs([policy], good, bad), stats);

        Assert.Equal(["\"w-010255012002\" . 10.255.12.2 : 0x00000002"], t.Text["containers"]);
        Assert.Equal(["tcp . 61001 : 10.255.12.2 . 8080"], t.Text["portmap"]);
        Assert.DoesNotContain(t.Text["allow"], e => e.Contains("10.255.12.3", StringComparison.Ordinal));
        Assert.Single(t.Text["allow"]);
        Assert.Equal(1, stats.SkippedContainers);
    }

    [Fact]
    public void The_app_name_is_read_from_the_record_and_reported_to_the_registry_as_app_name()
    {
        // The record as weft-cni writes it (docs/cell-state.md).
        var json = """
            {"containerId":"c0ffee","ifName":"eth0","ip":"10.255.12.2","netns":"/run/netns/x","hostVeth":"w-010255012002","appId":"app-guid","appName":"frontend","spaceId":"space-guid","orgId":"org-guid","instanceIndex":0,"ports":[8080],"portMappings":[],"createdAt":"2026-11-21T22:00:00Z"}
            """u8;
        var c = ContainerRecordParser.Parse(json);
        Assert.Equal("frontend", c.AppName);

        var unnamed = ContainerRecordParser.Parse(System.Text.Encoding.UTF8.GetBytes(Record("d00d", "10.255.12.3", "w-010255012003", "other-guid")));
        Assert.Null(unnamed.AppName);

        using var doc = System.Text.Json.JsonDocument.Parse(Weft.Agent.Server.WireFormat.RegistrationJson(IPAddress.Parse("198.18.0.11"), [c, unnamed]));
        var sent = doc.RootElement.GetProperty("containers").EnumerateArray().ToDictionary(e => e.GetProperty("container_id").GetString()!);
        Assert.Equal("frontend", sent["c0ffee"].GetProperty("app_name").GetString());
        Assert.Equal("app-guid", sent["c0ffee"].GetProperty("app_id").GetString());
        Assert.False(sent["d00d"].TryGetProperty("app_name", out _));
    }

    [Fact]
    public void The_org_id_and_ports_are_read_from_the_record_and_the_org_is_reported_as_org_id()
    {
        var json = """
            {"containerId":"c0ffee","ifName":"eth0","ip":"10.255.12.2","netns":"/run/netns/x","hostVeth":"w-010255012002","appId":"app-guid","spaceId":"space-guid","orgId":"org-guid","instanceIndex":2,"ports":[8080,2222],"portMappings":[{"hostPort":61012,"containerPort":8080,"protocol":"tcp"}],"createdAt":"2026-11-21T22:00:00Z"}
            """u8;
        var c = ContainerRecordParser.Parse(json);
        Assert.Equal("org-guid", c.OrgId);
        Assert.Equal([8080, 2222], c.Ports);
        var noOrg = ContainerRecordParser.Parse(System.Text.Encoding.UTF8.GetBytes(Record("d00d", "10.255.12.3", "w-010255012003", "other-guid")));
        Assert.Null(noOrg.OrgId);

        using var doc = System.Text.Json.JsonDocument.Parse(Weft.Agent.Server.WireFormat.RegistrationJson(IPAddress.Parse("198.18.0.11"), [c, noOrg]));
        var sent = doc.RootElement.GetProperty("containers").EnumerateArray().ToDictionary(e => e.GetProperty("container_id").GetString()!);
        Assert.Equal("org-guid", sent["c0ffee"].GetProperty("org_id").GetString());
        Assert.Equal("space-guid", sent["c0ffee"].GetProperty("space_id").GetString());
        Assert.Equal(2, sent["c0ffee"].GetProperty("instance_index").GetInt32());
        Assert.Equal([8080, 2222], sent["c0ffee"].GetProperty("ports").EnumerateArray().Select(p => p.GetInt32()));
        Assert.False(sent["d00d"].TryGetProperty("org_id", out _));
    }

    [Fact]
    public void Host_veth_name_matches_weft_cni() =>
        Assert.Equal("w-010255012002", PolicyCompiler.HostVethName(IPAddress.Parse("10.255.12.2")));
}
