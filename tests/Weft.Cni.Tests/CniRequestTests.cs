namespace Weft.Cni.Tests;

public class CniRequestTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void Add_reads_every_variable_and_the_args()
    {
        var r = CniRequest.FromEnvironment(Env(("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "c0ffee"), ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", "eth0"), ("CNI_ARGS", "IgnoreUnknown=1;WEFT_APP_ID=app-1"), ("CNI_PATH", "/opt/cni/bin")));
        Assert.Equal(CniCommand.Add, r.Command);
        Assert.Equal("c0ffee", r.ContainerId);
        Assert.Equal("/run/netns/x", r.Netns);
        Assert.Equal("eth0", r.IfName);
        Assert.Equal("app-1", r.Arg("WEFT_APP_ID"));
        Assert.Equal("1", r.Arg("IgnoreUnknown"));
        Assert.Null(r.Arg("WEFT_SPACE_ID"));
    }

    [Theory]
    [InlineData(null, "x", "/n", "eth0", "CNI_COMMAND")]
    [InlineData("FROB", "x", "/n", "eth0", "FROB")]
    [InlineData("ADD", null, "/n", "eth0", "CNI_CONTAINERID")]
    [InlineData("ADD", "x", null, "eth0", "CNI_NETNS")]
    [InlineData("ADD", "x", "/n", null, "CNI_IFNAME")]
    [InlineData("CHECK", "x", null, "eth0", "CNI_NETNS")]
    [InlineData("DEL", "x", "/n", null, "CNI_IFNAME")]
    [InlineData("ADD", "-bad", "/n", "eth0", "CNI_CONTAINERID")]
    [InlineData("ADD", "a/b", "/n", "eth0", "CNI_CONTAINERID")]
    [InlineData("ADD", "x", "/n", "eth0/1", "CNI_IFNAME")]
    [InlineData("ADD", "x", "/n", "a-very-long-ifname", "CNI_IFNAME")]
    [InlineData("ADD", "x", "/n", "..", "CNI_IFNAME")]
    public void Missing_or_malformed_variables_are_code_4(string? command, string? id, string? netns, string? ifName, string mentioned)
    {
        var e = Assert.Throws<CniException>(() => CniRequest.FromEnvironment(key => key switch
        {
            "CNI_COMMAND" => command,
            "CNI_CONTAINERID" => id,
            "CNI_NETNS" => netns,
            "CNI_IFNAME" => ifName,
            _ => null,
        }));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
        Assert.Contains(mentioned, e.Message);
    }

    [Fact]
    public void Del_does_not_need_a_netns_and_version_needs_nothing()
    {
        var del = CniRequest.FromEnvironment(Env(("CNI_COMMAND", "DEL"), ("CNI_CONTAINERID", "x"), ("CNI_IFNAME", "eth0")));
        Assert.Null(del.Netns);
        Assert.Equal(CniCommand.Version, CniRequest.FromEnvironment(Env(("CNI_COMMAND", "VERSION"))).Command);
        Assert.Equal(CniCommand.Status, CniRequest.FromEnvironment(Env(("CNI_COMMAND", "STATUS"))).Command);
        Assert.Equal(CniCommand.Gc, CniRequest.FromEnvironment(Env(("CNI_COMMAND", "GC"))).Command);
    }

    [Fact]
    public void Args_without_equals_are_rejected()
    {
        var e = Assert.Throws<CniException>(() => CniRequest.ParseArgs("A=1;broken"));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
    }
}
