using System.Text;

namespace Weft.Cni.Tests;

public class NetConfTests
{
    private static NetConf Parse(string json) => NetConf.Parse(Encoding.UTF8.GetBytes(json));

    private static int Code(string json) => Assert.Throws<CniException>(() => Parse(json)).Code;

    [Fact]
    public void Defaults_apply_to_a_minimal_config()
    {
        var c = Parse("""{"cniVersion":"1.1.0","name":"weft","type":"weft-cni"}""");
        Assert.Equal("/run/weft", c.StateDir);
        Assert.Equal("/var/lib/weft", c.DataDir);
        Assert.Null(c.Subnet);
        Assert.Null(c.Mtu);
        Assert.Empty(c.PortMappings);
        Assert.Null(c.PrevResult);
        Assert.Null(c.ValidAttachments);
    }

    [Fact]
    public void Reads_overrides_metadata_port_mappings_prev_result_and_attachments()
    {
        var c = Parse("""
            {"cniVersion":"1.0.0","name":"weft","type":"weft-cni","subnet":"10.255.7.9/24","mtu":1400,
             "stateDir":"/tmp/s","dataDir":"/tmp/d",
             "metadata":{"app_id":"app-1","space_id":"space-1","ports":"8080, 2222","instance_index":3},
             "runtimeConfig":{"portMappings":[{"hostPort":61012,"containerPort":8080,"protocol":"TCP"},{"host_port":61013,"container_port":2222}]},
             "prevResult":{"cniVersion":"1.0.0","ips":[]},
             "cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}
            """);
        Assert.Equal("10.255.7.0/24", c.Subnet.ToString());
        Assert.Equal(1400, c.Mtu);
        Assert.Equal("/tmp/s", c.StateDir);
        Assert.Equal("app-1", c.Metadata["app_id"]);
        Assert.Equal("3", c.Metadata["instance_index"]);
        Assert.Equal([new PortMapping(61012, 8080, "tcp"), new PortMapping(61013, 2222, "tcp")], c.PortMappings);
        Assert.Contains("\"ips\"", c.PrevResult);
        Assert.Equal([new AttachmentKey("a", "eth0")], c.ValidAttachments!);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("[1,2]")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","metadata":"x"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","mtu":"abc"}""")]
    [InlineData("""{"cniVersion":1,"name":"weft"}""")]
    public void Undecodable_input_is_code_6(string json) => Assert.Equal(CniErrorCode.DecodeFailure, Code(json));

    [Theory]
    [InlineData("""{"cniVersion":"0.2.0","name":"weft"}""")]
    [InlineData("""{"cniVersion":"9.9.9","name":"weft"}""")]
    public void Unknown_versions_are_code_1(string json) => Assert.Equal(CniErrorCode.IncompatibleVersion, Code(json));

    [Theory]
    [InlineData("""{"name":"weft"}""")]
    [InlineData("""{"cniVersion":"1.1.0"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","subnet":"10.255.0.0/16"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","subnet":"nonsense"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","mtu":100}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","stateDir":"relative"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"weft","runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":0}]}}""")]
    public void Invalid_values_are_code_7(string json) => Assert.Equal(CniErrorCode.InvalidConfig, Code(json));

    [Fact]
    public void Version_is_peeked_without_validating_the_rest()
    {
        Assert.Equal("0.4.0", NetConf.PeekVersion("""{"cniVersion":"0.4.0"}"""u8));
        Assert.Null(NetConf.PeekVersion("garbage"u8));
        Assert.Null(NetConf.PeekVersion(""u8));
    }
}
