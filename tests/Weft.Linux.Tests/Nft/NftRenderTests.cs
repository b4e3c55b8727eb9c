using System.Net;
using Weft.Linux.Nft;
using static Weft.Linux.Tests.Nft.NftSample;

namespace Weft.Linux.Tests.Nft;

public class NftRenderTests
{
    [Fact]
    public void ReplaceTable_renders_the_whole_table_as_one_script()
    {
        string script = new NftBatch().ReplaceTable(Table()).Render();
        Assert.Equal(GoldenReplace, script);
    }

    [Fact]
    public void Element_changes_render_as_add_and_delete_element_lines()
    {
        NftTable t = Table();
        string script = new NftBatch()
            .DeleteElements(t, "policy_allow", [Policy(5, "10.255.12.2", NftValue.Tcp, NftValue.PortRange(8080, 8090))])
            .AddElements(t, "policy_allow", [Policy(5, "10.255.12.2", NftValue.Tcp, NftValue.Port(8080)), Policy(0xffff, "10.255.12.4", NftValue.Protocol(132), NftValue.PortRange(1, 65535))])
            .AddElements(t, "tags", [NftElement.Map(Ip("10.255.12.9"), NftValue.Mark(0x10))])
            .Render();
        Assert.Equal(
            "delete element inet weft policy_allow { 0x5 . 10.255.12.2 . tcp . 8080-8090 }\n" +
            "add element inet weft policy_allow { 0x5 . 10.255.12.2 . tcp . 8080-8080, 0xffff . 10.255.12.4 . sctp . 1-65535 }\n" +
            "add element inet weft tags { 10.255.12.9 : 0x10 }\n",
            script);
    }

    [Fact]
    public void ReplaceElements_flushes_then_adds_and_RemoveTable_never_fails_on_a_missing_table()
    {
        NftTable t = Table();
        Assert.Equal(
            "flush set inet weft underlay\nadd element inet weft underlay { 198.18.0.7 }\n",
            new NftBatch().ReplaceElements(t, "underlay", [NftElement.Of(Ip("198.18.0.7"))]).Render());
        Assert.Equal("add table inet weft\ndelete table inet weft\n", new NftBatch().RemoveTable(NftFamily.Inet, "weft").Render());
    }

    [Fact]
    public void Elements_are_split_into_lines_of_ElementsPerLine()
    {
        NftTable t = Table();
        var many = Enumerable.Range(0, NftBatch.ElementsPerLine * 2 + 1)
            .Select(i => NftElement.Of(NftValue.Address(new IPAddress(0xC6120000u + (uint)i)))).ToList();
        string[] lines = new NftBatch().AddElements(t, "underlay", many).Render().TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("add element inet weft underlay { ", l));
        Assert.Equal(many.Count, lines.Sum(l => l.Split(',').Length));
    }

    [Fact]
    public void SyncElements_renders_only_the_difference()
    {
        NftTable t = Table();
        NftElement keep = NftElement.Map(Ip("10.255.12.2"), NftValue.Mark(5));
        NftElement changedOld = NftElement.Map(Ip("10.255.12.3"), NftValue.Mark(6));
        NftElement changedNew = NftElement.Map(Ip("10.255.12.3"), NftValue.Mark(7));
        NftElement gone = NftElement.Map(Ip("10.255.12.4"), NftValue.Mark(8));
        NftElement added = NftElement.Map(Ip("10.255.12.5"), NftValue.Mark(9));

        var batch = new NftBatch();
        Assert.Equal((2, 2), batch.SyncElements(t, "tags", [keep, changedOld, gone], [keep, changedNew, added]));
        Assert.Equal(
            "delete element inet weft tags { 10.255.12.3 : 0x6, 10.255.12.4 : 0x8 }\n" +
            "add element inet weft tags { 10.255.12.3 : 0x7, 10.255.12.5 : 0x9 }\n",
            batch.Render());

        var same = new NftBatch();
        Assert.Equal((0, 0), same.SyncElements(t, "tags", [keep], [keep]));
        Assert.True(same.IsEmpty);
    }

    [Theory]
    [InlineData("10.255.0.0", 16, "10.255.0.0/16")]
    [InlineData("0.0.0.0", 0, "0.0.0.0/0")]
    [InlineData("10.1.2.3", 32, "10.1.2.3")]
    [InlineData("fd00::", 64, "fd00::/64")]
    public void Prefixes_render_in_cidr_notation(string addr, int len, string expected) =>
        Assert.Equal(expected, NftValue.Prefix(IPAddress.Parse(addr), len).ToString());

    [Fact]
    public void Values_render_canonically_and_compare_by_what_they_cover()
    {
        Assert.Equal("10.0.0.1-10.0.0.7", NftValue.AddressRange(IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.7")).ToString());
        // A range that is exactly a prefix is the prefix (as nft reports it back).
        Assert.Equal(NftValue.Prefix("10.0.0.0/29"), NftValue.AddressRange(IPAddress.Parse("10.0.0.0"), IPAddress.Parse("10.0.0.7")));
        Assert.Equal("10.0.0.0/29", NftValue.AddressRange(IPAddress.Parse("10.0.0.0"), IPAddress.Parse("10.0.0.7")).ToString());
        Assert.Equal(NftValue.Port(80), NftValue.PortRange(80, 80));
        Assert.Equal("0xffff", NftValue.Mark(0xffff).ToString());
        Assert.Equal("icmpv6", NftValue.Protocol("ipv6-icmp").ToString());
        Assert.Equal("250", NftValue.Protocol(250).ToString());
        Assert.Equal("\"w-0aff0c02\"", NftValue.IfName("w-0aff0c02").ToString());
        Assert.Equal("10.1.2.3", NftValue.Address(IPAddress.Parse("::ffff:10.1.2.3")).ToString());
        Assert.Equal("jump c2c_deny", NftValue.Jump("c2c_deny").ToString());
    }

    [Theory]
    [InlineData("mark")]       // nft keywords would be parsed as syntax
    [InlineData("policy")]
    [InlineData("fwd")]
    [InlineData("weft; flush ruleset")]
    [InlineData("a b")]
    [InlineData("1abc")]
    [InlineData("")]
    [InlineData("weft\n")]
    public void Unsafe_names_are_refused(string name)
    {
        Assert.False(NftName.IsValid(name));
        Assert.Throws<ArgumentException>(() => new NftBatch().ReplaceTable(Table() with { Name = name }));
        Assert.Throws<ArgumentException>(() => NftStatement.Jump(name));
        Assert.Throws<ArgumentException>(() => NftStatement.InSet(NftExpr.IpSaddr, name));
    }

    [Theory]
    [InlineData("forward")]
    [InlineData("policy_allow")]
    [InlineData("weft")]
    [InlineData("c2c_deny")]
    public void Names_Weft_uses_are_accepted(string name) => Assert.True(NftName.IsValid(name));

    [Theory]
    [InlineData("eth0\"; flush ruleset; \"")]
    [InlineData("a very long interface name")]
    [InlineData("w/0")]
    [InlineData("")]
    public void Unsafe_interface_names_are_refused(string name) =>
        Assert.Throws<ArgumentException>(() => NftValue.IfName(name));

    [Theory]
    [InlineData("allow \" ; flush ruleset")]
    [InlineData("back\\slash")]
    [InlineData("line\nbreak")]
    public void Unsafe_comments_are_refused(string comment) =>
        Assert.Throws<ArgumentException>(() => new NftBatch().ReplaceTable(Table() with
        {
            Chains = [NftChain.Regular("c", [new NftRule([NftStatement.Accept], comment)])],
        }));

    [Fact]
    public void A_default_value_cannot_be_rendered()
    {
        Assert.Throws<InvalidOperationException>(() => default(NftValue).ToString());
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(Table(), "underlay", [NftElement.Of(default(NftValue))]));
    }

    [Fact]
    public void Prefix_with_host_bits_is_refused_with_the_right_prefix_named()
    {
        var e = Assert.Throws<ArgumentException>(() => NftValue.Prefix("10.255.12.2/24"));
        Assert.Contains("10.255.12.0/24", e.Message);
    }

    [Fact]
    public void Elements_that_do_not_fit_their_set_are_refused()
    {
        NftTable t = Table();
        // wrong number of fields
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "policy_allow", [NftElement.Of(Ip("10.0.0.1"))]));
        // wrong type in a field
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "policy_allow", [new NftElement([NftValue.Mark(1), NftValue.Port(1), NftValue.Tcp, NftValue.Port(1)])]));
        // a range in a set without the interval flag
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "antispoof", [NftElement.Of(NftValue.IfName("w-1"), NftValue.Prefix("10.0.0.0/8"))]));
        // a map element without value, a set element with one
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "tags", [NftElement.Of(Ip("10.0.0.1"))]));
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "underlay", [NftElement.Map(Ip("10.0.0.1"), NftValue.Mark(1))]));
        // unknown set
        Assert.Throws<ArgumentException>(() => new NftBatch().AddElements(t, "nosuchset", [NftElement.Of(Ip("10.0.0.1"))]));
    }

    [Fact]
    public void Matches_check_values_against_the_expression_type()
    {
        Assert.Equal("meta mark . ip daddr 0x5 . 10.0.0.1", NftStatement.Match(NftExpr.Concat(NftExpr.MetaMark, NftExpr.IpDaddr), NftValue.Mark(5), Ip("10.0.0.1")).ToString());
        Assert.Throws<ArgumentException>(() => NftStatement.Match(NftExpr.IpSaddr, NftValue.Port(1)));
        Assert.Throws<ArgumentException>(() => NftStatement.Match(NftExpr.IpSaddr, NftValue.Address(IPAddress.Parse("fd00::1"))));
        Assert.Equal("th dport { 80, 443, 8000-9000 }", NftStatement.MatchAny(NftExpr.ThDport, [NftValue.Port(80), NftValue.Port(443), NftValue.PortRange(8000, 9000)]).ToString());
        Assert.Equal("ct state established,related", NftStatement.CtState(NftCtState.Related | NftCtState.Established).ToString());
        Assert.Equal("iifname \"w-*\"", NftStatement.IfNameStartsWith(NftExpr.IifName, "w-").ToString());
    }

    [Fact]
    public void Elements_compare_by_value()
    {
        Assert.Equal(Policy(5, "10.0.0.1", NftValue.Tcp, NftValue.Port(80)), Policy(5, "10.0.0.1", NftValue.Tcp, NftValue.PortRange(80, 80)));
        Assert.NotEqual(Policy(5, "10.0.0.1", NftValue.Tcp, NftValue.Port(80)), Policy(5, "10.0.0.1", NftValue.Udp, NftValue.Port(80)));
        Assert.Equal(
            new HashSet<NftElement> { NftElement.Map(Ip("10.0.0.1"), NftValue.Mark(1)) },
            new HashSet<NftElement> { NftElement.Map(Ip("10.0.0.1"), NftValue.Mark(1)) });
    }

    internal const string GoldenReplace = """
        add table inet weft
        delete table inet weft
        add table inet weft
        add set inet weft policy_allow { type mark . ipv4_addr . inet_proto . inet_service; flags interval; }
        add set inet weft underlay { type ipv4_addr; flags interval; }
        add set inet weft antispoof { type ifname . ipv4_addr; }
        add map inet weft tags { type ipv4_addr : mark; }
        add map inet weft dispatch { type ifname : verdict; }
        add map inet weft portmap { type inet_proto . inet_service : ipv4_addr . inet_service; }
        add chain inet weft prerouting { type filter hook prerouting priority -150; policy accept; }
        add chain inet weft input { type filter hook input priority 0; policy accept; }
        add chain inet weft forward { type filter hook forward priority 0; policy accept; }
        add chain inet weft c2c_deny
        add chain inet weft dstnat { type nat hook prerouting priority -100; policy accept; }
        add chain inet weft srcnat { type nat hook postrouting priority 100; policy accept; }
        add element inet weft policy_allow { 0x5 . 10.255.12.2 . tcp . 8080-8090, 0x7 . 10.255.12.3 . udp . 53-53 }
        add element inet weft underlay { 198.18.0.0/24, 198.19.0.1 }
        add element inet weft antispoof { "w-0aff0c02" . 10.255.12.2 }
        add element inet weft tags { 10.255.12.2 : 0x5 }
        add element inet weft dispatch { "w-0aff0c02" : jump c2c_deny }
        add element inet weft portmap { tcp . 61012 : 10.255.12.2 . 8080 }
        add rule inet weft prerouting iifname "w-*" iifname . ip saddr != @antispoof counter drop comment "anti-spoof"
        add rule inet weft prerouting meta mark set ip saddr map @tags comment "mark by source"
        add rule inet weft input udp dport 4789 ip saddr != @underlay counter drop
        add rule inet weft forward ct state established,related accept
        add rule inet weft forward meta mark . ip daddr . meta l4proto . th dport @policy_allow counter accept comment "c2c allow"
        add rule inet weft forward ip daddr 10.255.0.0/16 jump c2c_deny
        add rule inet weft c2c_deny counter reject
        add rule inet weft dstnat ip daddr 198.18.0.2 dnat ip to meta l4proto . th dport map @portmap
        add rule inet weft srcnat ip saddr 10.255.12.0/24 ip daddr != 10.255.0.0/16 oifname != "weft-vtep" masquerade

        """;
}
