using Weft.Agent.Policy;

namespace Weft.Agent.Tests.Policy;

public class NftTableTextTests
{
    // As `nft list table inet weft` prints it (tabs, wrapped element lists).
    private const string Listing = "table inet weft {\n\tcomment \"weft-agent skeleton 0123456789abcdef\"\n\tset cells {\n\t\ttype ipv4_addr\n" +
        "\t\telements = { 198.18.0.11, 198.18.0.12 }\n\t}\n\n\tmap src_tag {\n\t\ttype ipv4_addr : mark\n\t}\n\n" +
        "\tset allow_ranges {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n" +
        "\t\telements = { 0x00000001 . 10.255.12.2 . tcp . 8080-8090,\n\t\t\t     0x00000001 . 10.255.12.2 . udp . 53 }\n\t}\n\n" +
        "\tset veths {\n\t\ttype ifname . ipv4_addr\n\t\telements = { \"w-010255012002\" . 10.255.12.2 }\n\t}\n\n" +
        "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tudp dport 4789 drop comment \"x\"\n\t}\n}\n";

    [Fact]
    public void Parses_comment_and_elements_in_canonical_form()
    {
        var p = NftTableText.Parse(Listing);
        Assert.Equal("weft-agent skeleton 0123456789abcdef", p.Comment);
        Assert.Equal(["198.18.0.11", "198.18.0.12"], p.Elements["cells"]);
        Assert.Empty(p.Elements["src_tag"]);
        Assert.Equal(["0x00000001 . 10.255.12.2 . tcp . 8080-8090", "0x00000001 . 10.255.12.2 . udp . 53-53"], p.Elements["allow_ranges"]);
        Assert.Equal(["\"w-010255012002\" . 10.255.12.2"], p.Elements["veths"]);
    }

    [Fact]
    public void The_skeleton_id_depends_on_the_cell_not_on_elements()
    {
        var a = NftScript.SkeletonId(Samples.Cell);
        Assert.Equal(a, NftScript.SkeletonId(Samples.Cell with { }));
        Assert.NotEqual(a, NftScript.SkeletonId(Samples.Cell with { CellIp = System.Net.IPAddress.Parse("198.18.0.12") }));
    }
}
