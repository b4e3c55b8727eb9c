using Weft.Linux.Nft;
using Weft.TestSupport;
using static Weft.Linux.Tests.Nft.NftSample;

namespace Weft.Linux.Tests.Nft;

/// <summary>
/// nftables on the two-host VXLAN-GBP overlay (<see cref="TwoHostVxlan"/>): a set element opens and
/// closes a path for real traffic, and a mark set on host A arrives on host B in the GBP header.
/// </summary>
public class NftOverlayTests
{
    private static readonly TimeSpan Pass = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Dropped = TimeSpan.FromSeconds(2);

    [RootFact]
    public void Overlay_traffic_is_dropped_until_a_set_element_allows_it()
    {
        using var t = TwoHostVxlan.Create();
        using NftContext b = NftContext.Open(t.NsB);
        NftDataType[] key = [NftDataType.Ipv4Addr, NftDataType.Ipv4Addr, NftDataType.InetProto];
        var table = new NftTable(NftFamily.Inet, "weft",
            [
                NftChain.Base("input", NftChainType.Filter, NftHook.Input, NftPriority.Filter, NftChainPolicy.Accept,
                [
                    NftRule.Of(NftStatement.CtState(NftCtState.Established | NftCtState.Related), NftStatement.Accept),
                    new NftRule([
                        NftStatement.Match(NftExpr.IifName, NftValue.IfName(TwoHostVxlan.VtepName)),
                        NftStatement.InSet(NftExpr.Concat(NftExpr.IpSaddr, NftExpr.IpDaddr, NftExpr.L4Proto), "allow"),
                        NftStatement.Counter,
                        NftStatement.Accept,
                    ], "allowed"),
                    new NftRule([
                        NftStatement.Match(NftExpr.IifName, NftValue.IfName(TwoHostVxlan.VtepName)),
                        NftStatement.Counter,
                        NftStatement.Drop,
                    ], "denied"),
                ]),
            ],
            [new NftSet("allow", key, NftSetFlags.None, [])],
            []);
        NftElement aToB = NftElement.Of(Ip("10.255.1.1"), Ip("10.255.2.1"), NftValue.Tcp);
        b.Apply(new NftBatch().ReplaceTable(table));

        Assert.False(t.TryTcpAtoB(Dropped));
        Assert.True(Counter(b, "denied") > 0);
        Assert.Equal(0, Counter(b, "allowed"));

        b.Apply(new NftBatch().AddElements(table, "allow", [aToB]));
        Assert.True(t.TryTcpAtoB(Pass));
        Assert.True(Counter(b, "allowed") > 0);

        b.Apply(new NftBatch().DeleteElements(table, "allow", [aToB]));
        long deniedBefore = Counter(b, "denied");
        Assert.False(t.TryTcpAtoB(Dropped));
        Assert.True(Counter(b, "denied") > deniedBefore);
        Assert.Empty(b.ListElements(NftFamily.Inet, "weft", "allow"));
    }

    [RootFact]
    public void Mark_set_on_host_A_is_seen_on_host_B_through_the_gbp_header()
    {
        using var t = TwoHostVxlan.Create();
        using NftContext a = NftContext.Open(t.NsA);
        using NftContext b = NftContext.Open(t.NsB);
        const uint tag = 0x1234;

        // B accepts overlay traffic carrying the tag and drops everything else from the overlay.
        b.Apply(new NftBatch().ReplaceTable(new NftTable(NftFamily.Inet, "weft",
            [
                NftChain.Base("input", NftChainType.Filter, NftHook.Input, NftPriority.Filter, NftChainPolicy.Accept,
                [
                    new NftRule([
                        NftStatement.Match(NftExpr.IifName, NftValue.IfName(TwoHostVxlan.VtepName)),
                        NftStatement.Match(NftExpr.MetaMark, NftValue.Mark(tag)),
                        NftStatement.Counter,
                        NftStatement.Accept,
                    ], "tagged"),
                    new NftRule([
                        NftStatement.Match(NftExpr.IifName, NftValue.IfName(TwoHostVxlan.VtepName)),
                        NftStatement.Counter,
                        NftStatement.Drop,
                    ], "untagged"),
                ]),
            ], [], [])));

        // A sends unmarked: dropped on B as untagged.
        Assert.False(t.TryTcpAtoB(Dropped));
        Assert.True(Counter(b, "untagged") > 0);
        Assert.Equal(0, Counter(b, "tagged"));

        // A marks with bit 16 set as well: only the low 16 bits travel, and B sees exactly the tag.
        a.Apply(new NftBatch().ReplaceTable(MarkOnA(0x1_0000 | tag)));
        Assert.True(t.TryTcpAtoB(Pass));
        Assert.True(Counter(b, "tagged") > 0);

        // Another tag is not this one.
        a.Apply(new NftBatch().ReplaceTable(MarkOnA(tag + 1)));
        long untagged = Counter(b, "untagged");
        Assert.False(t.TryTcpAtoB(Dropped));
        Assert.True(Counter(b, "untagged") > untagged);
    }

    /// <summary>Host A's table: packets it sends to B's overlay address get <paramref name="mark"/>.</summary>
    private static NftTable MarkOnA(uint mark) => new(NftFamily.Inet, "weft",
        [
            NftChain.Base("output", NftChainType.Filter, NftHook.Output, NftPriority.Filter, NftChainPolicy.Accept,
            [
                NftRule.Of(NftStatement.Match(NftExpr.IpDaddr, NftValue.Address(TwoHostVxlan.OverlayHostB)), NftStatement.SetMark(mark)),
            ]),
        ], [], []);

    private static long Counter(NftContext nft, string comment) =>
        NftJson.ReadRules(nft.ListTableJson(NftFamily.Inet, "weft")).Single(r => r.Comment == comment).Packets ?? -1;
}
