using System.Diagnostics;
using System.Net;
using Weft.Linux.Nft;
using Weft.TestSupport;

namespace Weft.Linux.Tests.Nft;

/// <summary>Root tests: element batches encoded by <see cref="NftElementBatch"/> against the kernel, read back through nft's JSON.</summary>
public class NftNetlinkTests
{
    private static readonly NftDataType[] Policy = [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService];

    internal static readonly INftSetLike[] Sets =
    [
        new NftSet("addrs", [NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftMap("tags", [NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None, []),
        new NftSet("exact", Policy, NftSetFlags.None, []),
        new NftSet("ranges", Policy, NftSetFlags.Interval, []),
        new NftSet("veths", [NftDataType.IfName, NftDataType.Ipv4Addr], NftSetFlags.None, []),
        new NftMap("veth_marks", [NftDataType.IfName, NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None, []),
        new NftMap("portmap", [NftDataType.InetProto, NftDataType.InetService], [NftDataType.Ipv4Addr, NftDataType.InetService], NftSetFlags.None, []),
        new NftSet("v6", [NftDataType.Ipv6Addr], NftSetFlags.None, []),
    ];

    internal static string Skeleton() =>
        "add table inet weft\n" + string.Concat(Sets.Select(s =>
            $"add {(s.ValueTypes.Count > 0 ? "map" : "set")} inet weft {s.Name} {{ type {string.Join(" . ", s.KeyTypes.Select(t => t.Keyword()))}" +
            (s.ValueTypes.Count > 0 ? " : " + string.Join(" . ", s.ValueTypes.Select(t => t.Keyword())) : "") +
            ((s.Flags & NftSetFlags.Interval) != 0 ? "; flags interval" : "") + "; }\n"));

    private static NftValue Ip(string s) => NftValue.Address(IPAddress.Parse(s));

    internal static Dictionary<string, NftElement[]> Sample() => new()
    {
        ["addrs"] = [NftElement.Of(Ip("198.18.0.11")), NftElement.Of(Ip("10.255.12.2"))],
        ["tags"] = [NftElement.Map(Ip("10.255.12.3"), NftValue.Mark(0x1234)), NftElement.Map(Ip("10.255.12.4"), NftValue.Mark(0xffff0000))],
        ["exact"] = [NftElement.Of(NftValue.Mark(3), Ip("10.255.12.2"), NftValue.Tcp, NftValue.Port(8080)),
                     NftElement.Of(NftValue.Mark(0xfffe), Ip("10.255.12.9"), NftValue.Udp, NftValue.Port(53))],
        ["ranges"] = [NftElement.Of(NftValue.Mark(1), Ip("10.255.12.2"), NftValue.Tcp, NftValue.PortRange(8000, 9000)),
                      NftElement.Of(NftValue.Mark(1), Ip("10.255.12.2"), NftValue.Udp, NftValue.Port(5353))],
        ["veths"] = [NftElement.Of(NftValue.IfName("w-010255012002"), Ip("10.255.12.2"))],
        ["veth_marks"] = [new NftElement([NftValue.IfName("w-010255012002"), Ip("10.255.12.2")], [NftValue.Mark(7)]),
                          new NftElement([NftValue.IfName("w-010255012003"), Ip("10.255.12.3")], [NftValue.Mark(0)])],
        ["portmap"] = [new NftElement([NftValue.Tcp, NftValue.Port(61012)], [Ip("10.255.12.2"), NftValue.Port(8080)])],
        ["v6"] = [NftElement.Of(Ip("fd00::1"))],
    };

    [RootFact]
    public void Elements_written_over_netlink_read_back_as_added_in_every_set_type()
    {
        using var ns = TestNetns.Create("nftnl");
        using NftContext nft = NftContext.Open(ns.Ns);
        using NftNetlink nl = NftNetlink.Open(ns.Ns);
        nft.Apply(Skeleton());
        var sample = Sample();
        var batch = new NftElementBatch();
        foreach (var s in Sets) batch.Add(NftFamily.Inet, "weft", s, sample[s.Name]);

        nl.Commit(batch);

        foreach (var s in Sets)
        {
            Assert.Equal(sample[s.Name].ToHashSet(), nft.ListElements(NftFamily.Inet, "weft", s.Name).ToHashSet());
            Assert.Equal(sample[s.Name].ToHashSet(), nl.ListElements(NftFamily.Inet, "weft", s).ToHashSet()); // our own dump decoder agrees
        }
        // nft's own text listing agrees (e.g. the interval element keeps its range, the mark its value).
        string text = ns.Exec("nft", "list", "table", "inet", "weft");
        Assert.Contains("0x00000001 . 10.255.12.2 . tcp . 8000-9000", text);
        Assert.Contains("10.255.12.4 : 0xffff0000", text);
        Assert.Contains("\"w-010255012002\" . 10.255.12.2", text);
        Assert.Contains("tcp . 61012 : 10.255.12.2 . 8080", text);

        // Deleting over netlink, including the interval elements, leaves the sets empty.
        var del = new NftElementBatch();
        foreach (var s in Sets) del.Delete(NftFamily.Inet, "weft", s, sample[s.Name]);
        nl.Commit(del);
        foreach (var s in Sets) Assert.Empty(nft.ListElements(NftFamily.Inet, "weft", s.Name));
    }

    [RootFact]
    public void A_refused_batch_applies_nothing_and_carries_the_errno()
    {
        using var ns = TestNetns.Create("nftnl");
        using NftContext nft = NftContext.Open(ns.Ns);
        using NftNetlink nl = NftNetlink.Open(ns.Ns);
        nft.Apply(Skeleton());
        var addrs = Sets[0];
        var batch = new NftElementBatch()
            .Add(NftFamily.Inet, "weft", addrs, [NftElement.Of(Ip("10.0.0.1"))])
            .Delete(NftFamily.Inet, "weft", addrs, [NftElement.Of(Ip("10.0.0.2"))]);

        var e = Assert.Throws<NetlinkException>(() => nl.Commit(batch));

        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Empty(nft.ListElements(NftFamily.Inet, "weft", "addrs"));
        Assert.Equal(Errno.ENOENT, Assert.Throws<NetlinkException>(() => nl.ListElements(NftFamily.Inet, "weft", new NftSet("nosuch", [NftDataType.Ipv4Addr], NftSetFlags.None, []))).Errno);
        var missing = new NftElementBatch().Add(NftFamily.Inet, "weft", new NftSet("nosuch", [NftDataType.Ipv4Addr], NftSetFlags.None, []), [NftElement.Of(Ip("10.0.0.1"))]);
        Assert.Equal(Errno.ENOENT, Assert.Throws<NetlinkException>(() => nl.Commit(missing)).Errno);
    }

    [RootFact]
    public void Structure_digest_ignores_elements_and_handles_and_sees_a_rule_deleted_by_hand()
    {
        using var ns = TestNetns.Create("nftnl");
        using NftContext nft = NftContext.Open(ns.Ns);
        using NftNetlink nl = NftNetlink.Open(ns.Ns);
        Assert.Null(nl.TryReadStructure(NftFamily.Inet, "weft"));
        const string Rules = "add chain inet weft c { type filter hook forward priority 0; policy accept; }\n" +
            "add rule inet weft c ip saddr @addrs accept\nadd rule inet weft c meta mark . ip daddr . meta l4proto . th dport @exact drop\n";
        nft.Apply(Skeleton() + Rules);
        nft.Apply("add table inet other\nadd chain inet other c\n"); // chains of other tables do not count
        var a = nl.TryReadStructure(NftFamily.Inet, "weft")!;
        Assert.Contains("c", a.Chains);
        Assert.DoesNotContain("other", a.Chains);

        nft.Apply("add element inet weft addrs { 10.0.0.1 }\n");
        Assert.Equal(a.Digest, nl.TryReadStructure(NftFamily.Inet, "weft")!.Digest);
        nft.Apply("delete table inet weft\n" + Skeleton() + Rules); // rebuilt: new handles, same structure
        Assert.Equal(a.Digest, nl.TryReadStructure(NftFamily.Inet, "weft")!.Digest);

        long handle = NftJson.ReadRules(nft.RunJson("list chain inet weft c"))[0].Handle;
        nft.Apply($"delete rule inet weft c handle {handle}\n");
        Assert.NotEqual(a.Digest, nl.TryReadStructure(NftFamily.Inet, "weft")!.Digest);
    }

    [RootFact]
    public void Large_batches_are_split_into_messages_and_committed_whole()
    {
        using var ns = TestNetns.Create("nftnl");
        using NftContext nft = NftContext.Open(ns.Ns);
        using NftNetlink nl = NftNetlink.Open(ns.Ns);
        nft.Apply(Skeleton());
        var exact = Sets[2];
        var ranges = Sets[3];
        var many = Enumerable.Range(0, 20_000).Select(i => NftElement.Of(NftValue.Mark((uint)(i % 500 + 1)),
            NftValue.Address(new IPAddress([10, 255, (byte)(i / 250), (byte)(i % 250 + 1)])), NftValue.Tcp, NftValue.Port((ushort)(1000 + i % 7)))).ToArray();
        var spans = many.Take(3000).Select(e => NftElement.Of(e.Key[0], e.Key[1], e.Key[2], NftValue.PortRange(2000, 3000))).ToArray();
        var batch = new NftElementBatch().Add(NftFamily.Inet, "weft", exact, many).Add(NftFamily.Inet, "weft", ranges, spans);
        Assert.True(batch.Encode(1, out int acks).Length > 10 * NftElementBatch.MaxElementBytes);
        Assert.True(acks > 10);

        nl.Commit(batch);

        Assert.Equal(many.ToHashSet(), nft.ListElements(NftFamily.Inet, "weft", "exact").ToHashSet());
        Assert.Equal(spans.ToHashSet(), nft.ListElements(NftFamily.Inet, "weft", "ranges").ToHashSet());
        Assert.Equal(many.ToHashSet(), nl.ListElements(NftFamily.Inet, "weft", exact).ToHashSet()); // a multi-part dump
        Assert.Equal(spans.ToHashSet(), nl.ListElements(NftFamily.Inet, "weft", ranges).ToHashSet());
    }
}
