using System.Text;

namespace Weft.Cni.Tests;

public class ContainerRecordTests
{
    private static CniRequest Request(string? args = null) => new(CniCommand.Add, "c0ffee", "/run/netns/x", "eth0", CniRequest.ParseArgs(args), null);

    private static readonly DateTimeOffset Now = new(2026, 11, 21, 22, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Metadata_fills_the_record_and_it_serializes_as_documented()
    {
        var conf = NetConf.Parse("""
            {"cniVersion":"1.1.0","name":"weft","metadata":{"app_id":"app-guid","app_name":"frontend","space_id":"space-guid","org_id":"org-guid","ports":"8080","instance_index":"0"},
             "runtimeConfig":{"portMappings":[{"hostPort":61012,"containerPort":8080,"protocol":"tcp"}]}}
            """u8);
        var r = ContainerRecord.Describe(Request(), conf, Ipv4.Parse("10.255.12.2"), Now);
        Assert.Equal(
            """{"containerId":"c0ffee","ifName":"eth0","ip":"10.255.12.2","netns":"/run/netns/x","hostVeth":"w-010255012002","appId":"app-guid","appName":"frontend","spaceId":"space-guid","orgId":"org-guid","instanceIndex":0,"ports":[8080],"portMappings":[{"hostPort":61012,"containerPort":8080,"protocol":"tcp"}],"createdAt":"2026-11-21T22:00:00Z"}""",
            Encoding.UTF8.GetString(r.ToJson()));
        var back = ContainerRecord.Parse(r.ToJson());
        Assert.Equal(r.AppId, back.AppId);
        Assert.Equal("frontend", back.AppName);
        Assert.Equal(r.Ip, back.Ip);
        Assert.Equal(r.Ports, back.Ports);
        Assert.Equal(r.PortMappings, back.PortMappings);
        Assert.Equal(r.CreatedAt, back.CreatedAt);
    }

    [Theory]
    [InlineData("2026-11-21T22:00:00Z", true)]
    [InlineData("2026-11-21T22:00:00+01:00", false)]
    [InlineData("2026-11-21 22:00:00Z", false)]
    [InlineData("2026-13-21T22:00:00Z", false)]
    [InlineData("2026-11-21T22:00:0xZ", false)]
    public void CreatedAt_is_utc_to_the_second_and_anything_else_is_a_malformed_record(string createdAt, bool valid)
    {
        var json = Encoding.UTF8.GetBytes($$"""{"containerId":"c","ifName":"eth0","ip":"10.255.12.2","hostVeth":"w-010255012002","createdAt":"{{createdAt}}"}""");
        if (valid)
        {
            Assert.Equal(Now, ContainerRecord.Parse(json).CreatedAt);
            Assert.Equal(createdAt, ContainerRecord.FormatTime(Now.ToOffset(TimeSpan.FromHours(2))));
        }
        else
        {
            Assert.Throws<FormatException>(() => ContainerRecord.Parse(json));
        }
    }

    [Fact]
    public void Cni_args_win_over_metadata_and_ports_default_to_mapped_container_ports()
    {
        var conf = NetConf.Parse("""
            {"cniVersion":"1.1.0","name":"weft","metadata":{"app_id":"from-metadata","app_name":"name-from-metadata"},
             "runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":80},{"hostPort":2,"containerPort":80,"protocol":"udp"}]}}
            """u8);
        var r = ContainerRecord.Describe(Request("WEFT_APP_ID=from-args;WEFT_APP_NAME=name-from-args;WEFT_SPACE_ID=s;WEFT_INSTANCE_INDEX=4"), conf, Ipv4.Parse("10.255.12.9"), Now);
        Assert.Equal("from-args", r.AppId);
        Assert.Equal("name-from-args", r.AppName);
        Assert.Equal("s", r.SpaceId);
        Assert.Null(r.OrgId);
        Assert.Equal(4, r.InstanceIndex);
        Assert.Equal([80], r.Ports);
    }

    [Theory]
    [InlineData("WEFT_INSTANCE_INDEX=minus")]
    [InlineData("WEFT_PORTS=80,abc")]
    [InlineData("WEFT_PORTS=70000")]
    public void Malformed_values_are_code_7(string args)
    {
        var conf = NetConf.Parse("""{"cniVersion":"1.1.0","name":"weft"}"""u8);
        Assert.Equal(CniErrorCode.InvalidConfig, Assert.Throws<CniException>(() => ContainerRecord.Describe(Request(args), conf, Ipv4.Parse("10.255.12.9"), Now)).Code);
    }

    [Fact]
    public void Records_are_written_listed_and_removed()
    {
        using var dirs = new TestDirs();
        var records = new ContainerRecords(dirs.StateDir);
        var conf = NetConf.Parse("""{"cniVersion":"1.1.0","name":"weft"}"""u8);
        records.Write(ContainerRecord.Describe(Request(), conf, Ipv4.Parse("10.255.12.2"), Now));
        Assert.True(File.Exists(Path.Combine(dirs.StateDir, "containers", "c0ffee.eth0.json")));
        Assert.Equal("10.255.12.2", records.Read("c0ffee", "eth0")!.Ip.ToString());
        Assert.Single(records.List());
        Assert.True(records.Remove("c0ffee", "eth0"));
        Assert.False(records.Remove("c0ffee", "eth0"));
        Assert.Empty(records.List());
        Assert.Empty(Directory.GetFiles(records.Directory, "*", SearchOption.AllDirectories));
    }
}
