using System.Text;

namespace Weft.Cni.Tests;

public class CniOutputTests
{
    private static readonly AttachmentSpec Spec = new("/run/netns/c1", "eth0", Ipv4.Parse("10.255.12.2"), 1400);

    [Fact]
    public void Add_result_1_1_0()
    {
        var json = Encoding.UTF8.GetString(CniOutput.AddResult("1.1.0", null, Spec));
        Assert.Equal(
            """{"cniVersion":"1.1.0","interfaces":[{"name":"w-010255012002","mac":"aa:aa:0a:ff:0c:02","mtu":1400},{"name":"eth0","mac":"ee:ee:0a:ff:0c:02","mtu":1400,"sandbox":"/run/netns/c1"}],"ips":[{"address":"10.255.12.2/32","gateway":"169.254.0.1","interface":1}],"routes":[{"dst":"0.0.0.0/0","gw":"169.254.0.1"}],"dns":{}}""",
            json);
    }

    [Fact]
    public void Add_result_0_4_0_has_ip_versions_and_no_mtu()
    {
        var json = Encoding.UTF8.GetString(CniOutput.AddResult("0.4.0", null, Spec));
        Assert.Equal(
            """{"cniVersion":"0.4.0","interfaces":[{"name":"w-010255012002","mac":"aa:aa:0a:ff:0c:02"},{"name":"eth0","mac":"ee:ee:0a:ff:0c:02","sandbox":"/run/netns/c1"}],"ips":[{"version":"4","address":"10.255.12.2/32","gateway":"169.254.0.1","interface":1}],"routes":[{"dst":"0.0.0.0/0","gw":"169.254.0.1"}],"dns":{}}""",
            json);
    }

    [Fact]
    public void Add_result_appends_to_a_previous_result()
    {
        var prev = """{"cniVersion":"1.0.0","interfaces":[{"name":"lo"}],"ips":[{"address":"fd00::2/64","interface":0}],"routes":[],"dns":{"nameservers":["10.0.0.53"]}}""";
        var json = Encoding.UTF8.GetString(CniOutput.AddResult("1.0.0", prev, Spec));
        Assert.Contains("""[{"name":"lo"},{"name":"w-010255012002""", json);
        Assert.Contains("""{"address":"fd00::2/64","interface":0},{"address":"10.255.12.2/32","gateway":"169.254.0.1","interface":2}""", json);
        Assert.Contains("""
            "dns":{"nameservers":["10.0.0.53"]}
            """, json);
    }

    [Fact]
    public void Error_and_version_json()
    {
        Assert.Equal("""{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}""", Encoding.UTF8.GetString(CniOutput.Error("1.0.0", 7, "bad", "why")));
        Assert.Equal("""{"cniVersion":"1.1.0","code":11,"msg":"later"}""", Encoding.UTF8.GetString(CniOutput.Error("1.1.0", 11, "later", null)));
        Assert.Equal("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}""", Encoding.UTF8.GetString(CniOutput.Version("1.1.0")));
    }
}
