using System.Net;
using Weft.Agent.Policy;
using Weft.Linux.Nft;
using static Weft.Agent.Tests.Policy.Samples;

namespace Weft.Agent.Tests.Policy;

public class PolicyCompilerTests
{
    private static readonly PolicyRule[] Policies =
    [
        new("frontend", 1, "backend", 2, "tcp", 8080, 8080),
        new("frontend", 1, "backend", 2, "tcp", 8081, 8090),   // adjacent: merged with 8080
        new("frontend", 1, "backend", 2, "udp", 53, 53),
        new("worker", 3, "backend", 2, "tcp", 9000, 9100),
        new("worker", 3, "backend", 2, "tcp", 9050, 9200),     // overlapping: merged
        new("backend", 2, "remote-db", 4, "tcp", 5432, 5432), // destination not on this cell
        new("bad", 0, "backend", 2, "tcp", 1, 2),              // tag 0: skipped
        new("frontend", 1, "backend", 2, "icmp", 1, 1),        // protocol: skipped
    ];

    [Fact]
    public void Full_table_matches_golden()
    {
        var stats = new CompileStats();
        var t = PolicyCompiler.Compute(Inputs(Policies,
            Container("c1", "10.255.12.2", "backend", new PortMapping(61012, 8080, "tcp")),
            Container("c2", "10.255.12.3", "frontend"),
            Container("c3", "10.255.12.4", "untagged")), stats);

        Assert.Equal(2, stats.SkippedPolicies);
        Golden.Assert("full-table.nft", NftScript.Full(t));
    }

    [Fact]
    public void Only_destinations_on_this_cell_get_allow_entries()
    {
        var t = PolicyCompiler.Compute(Inputs(Policies, Container("c2", "10.255.12.3", "frontend")));
        Assert.Empty(t.Text["allow"]);
        Assert.Empty(t.Text["allow_ranges"]);
        Assert.Equal(["\"w-010255012003\" . 10.255.12.3 : 0x00000001"], t.Text["containers"]);
    }

    [Fact]
    public void A_second_instance_of_the_destination_app_gets_its_own_entries()
    {
        var one = PolicyCompiler.Compute(Inputs(Policies, Container("c1", "10.255.12.2", "backend")));
        var two = PolicyCompiler.Compute(Inputs(Policies, Container("c1", "10.255.12.2", "backend"), Container("c9", "10.255.12.9", "backend")));
        Assert.Equal(one.Text["allow"].Count * 2, two.Text["allow"].Count);
        Assert.Equal(one.Text["allow_ranges"].Count * 2, two.Text["allow_ranges"].Count);
        Assert.Contains("0x00000003 . 10.255.12.9 . tcp . 9000-9200", two.Text["allow_ranges"]);
    }

    [Fact]
    public void Duplicate_host_ports_keep_the_first_container()
    {
        var stats = new CompileStats();
        var t = PolicyCompiler.Compute(Inputs([],
            Container("a", "10.255.12.2", "x", new PortMapping(61000, 8080, "TCP")),
            Container("b", "10.255.12.3", "y", new PortMapping(61000, 9090, "tcp"), new PortMapping(61001, 9090, "sctp"))), stats);
        Assert.Equal(["tcp . 61000 : 10.255.12.2 . 8080"], t.Text["portmap"]);
        Assert.Equal(2, stats.SkippedPortMappings);
    }

    [Fact]
    public void Same_inputs_in_any_order_give_the_same_table()
    {
        var a = PolicyCompiler.Compute(Inputs(Policies, Container("c1", "10.255.12.2", "backend"), Container("c2", "10.255.12.3", "frontend")));
        var b = PolicyCompiler.Compute(Inputs(Policies.Reverse().ToArray(), Container("c2", "10.255.12.3", "frontend"), Container("c1", "10.255.12.2", "backend")));
        Assert.Equal(NftScript.Full(a), NftScript.Full(b));
    }

    [Theory]
    [InlineData("000C", 12)]
    [InlineData("0001", 1)]
    [InlineData("FFFF", 65535)]
    [InlineData("0000", 0)]
    [InlineData("zz", 0)]
    [InlineData(null, 0)]
    public void Tags_parse_as_cf_hex(string? tag, int expected) => Assert.Equal(expected, PolicyCompiler.ParseTag(tag));
}

public class NftDeltaTests
{
    private static readonly PolicyRule P1 = new("frontend", 1, "backend", 2, "tcp", 8080, 8080);
    private static readonly PolicyRule P2 = new("worker", 3, "backend", 2, "tcp", 9000, 9000);

    [Fact]
    public void Adding_one_policy_is_one_element_add()
    {
        var before = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        var after = PolicyCompiler.Compute(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend")));
        Assert.Equal("add element inet weft allow { 0x00000003 . 10.255.12.2 . tcp . 9000 }\n", NftScript.Delta(before, after).ToString());
    }

    [Fact]
    public void Deleting_a_policy_deletes_its_element_and_the_now_unused_tag()
    {
        var before = PolicyCompiler.Compute(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend"), Container("w", "10.255.12.5", "worker")));
        var after = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend"), Container("w", "10.255.12.5", "worker")));
        Assert.Equal(
            "delete element inet weft containers { \"w-010255012005\" . 10.255.12.5 : 0x00000003 }\n" +
            "delete element inet weft allow { 0x00000003 . 10.255.12.2 . tcp . 9000 }\n" +
            "add element inet weft containers { \"w-010255012005\" . 10.255.12.5 : 0x00000000 }\n",
            NftScript.Delta(before, after).ToString());
    }

    [Fact]
    public void Widening_a_merged_range_replaces_the_element()
    {
        var before = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        var after = PolicyCompiler.Compute(Inputs([P1, P1 with { StartPort = 8081, EndPort = 8085 }], Container("c1", "10.255.12.2", "backend")));
        Assert.Equal(
            "delete element inet weft allow { 0x00000001 . 10.255.12.2 . tcp . 8080 }\n" +
            "add element inet weft allow_ranges { 0x00000001 . 10.255.12.2 . tcp . 8080-8085 }\n",
            NftScript.Delta(before, after).ToString());
    }

    [Fact]
    public void No_change_is_an_empty_delta_and_a_new_cell_ip_is_another_skeleton()
    {
        var a = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        var b = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        Assert.True(NftScript.Delta(a, b).IsEmpty);
        Assert.Equal("", NftScript.Delta(a, b).ToString());
        var moved = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")) with
        {
            Cell = Samples.Cell with { CellIp = IPAddress.Parse("198.18.0.99") },
        });
        Assert.False(a.SameSkeleton(moved));
        Assert.NotEqual(NftScript.SkeletonId(a.Cell), NftScript.SkeletonId(moved.Cell));
        Assert.Equal(NftScript.SkeletonId(a.Cell), NftScript.SkeletonId(Samples.Cell with { }));
    }

    [Fact]
    public void Every_element_converts_to_the_nft_model_and_back_and_writes_the_same_bytes_as_the_model()
    {
        var t = PolicyCompiler.Compute(Inputs([P1, P2, P1 with { StartPort = 8081, EndPort = 8085 }],
            Container("c1", "10.255.12.2", "backend", new PortMapping(61012, 8080, "tcp")), Container("w", "10.255.12.5", "worker")));
        Span<byte> k1 = stackalloc byte[64], e1 = stackalloc byte[64], v1 = stackalloc byte[64];
        Span<byte> k2 = stackalloc byte[64], e2 = stackalloc byte[64], v2 = stackalloc byte[64];
        foreach (var set in TableElements.All)
        {
            var decl = set.Declaration();
            Assert.NotEmpty(t[set]);
            foreach (var e in t[set])
            {
                var model = TableElements.ToNft(set, e);
                Assert.True(TableElements.TryFromNft(set, model, out var back));
                Assert.Equal(e, back);
                // The packed writer and Weft.Linux.Nft's model encoder give the kernel the same bytes.
                var interval = (decl.Flags & NftSetFlags.Interval) != 0;
                var kl = NftElementBatch.KeyLength(decl.KeyTypes);
                var vl = decl.ValueTypes.Count > 0 ? NftElementBatch.KeyLength(decl.ValueTypes) : 0;
                k1.Fill(0xee); e1.Fill(0xee); v1.Fill(0xee);
                TableElements.Write(set, e, k1[..kl], interval ? e1[..kl] : default, v1[..vl]);
                k2.Clear(); e2.Clear(); v2.Clear();
                NftElementBatch.WriteKey(k2, decl.KeyTypes, model.Key, false, interval);
                if (interval) NftElementBatch.WriteKey(e2, decl.KeyTypes, model.Key, true, interval);
                if (vl > 0) NftElementBatch.WriteKey(v2, decl.ValueTypes, model.Value!, false, false);
                Assert.Equal(Convert.ToHexString(k2[..kl]), Convert.ToHexString(k1[..kl]));
                if (interval) Assert.Equal(Convert.ToHexString(e2[..kl]), Convert.ToHexString(e1[..kl]));
                Assert.Equal(Convert.ToHexString(v2[..vl]), Convert.ToHexString(v1[..vl]));
                Assert.True(TableElements.TryRead(set, k1[..kl], interval ? e1[..kl] : default, v1[..vl], out var read));
                Assert.Equal(e, read);
            }
        }
        Assert.Equal(["0x00000001 . 10.255.12.2 . tcp . 8080-8085"], t.Text["allow_ranges"]);
        Assert.Equal(["\"w-010255012002\" . 10.255.12.2 : 0x00000002", "\"w-010255012005\" . 10.255.12.5 : 0x00000003"], t.Text["containers"]);
        Assert.Equal(["tcp . 61012 : 10.255.12.2 . 8080"], t.Text["portmap"]);
        // The kernel reports a one-port interval as the port: the same element as the range.
        var allowRanges = TableSet.AllowRanges;
        Assert.True(TableElements.TryFromNft(allowRanges, NftElement.Of(NftValue.Mark(1), NftValue.Address(IPAddress.Parse("10.255.12.2")), NftValue.Udp, NftValue.Port(53)), out var one));
        Assert.Equal("0x00000001 . 10.255.12.2 . udp . 53-53", TableElements.Text(allowRanges, one));
        // A veth name the agent would not write is not one of its elements (a resync deletes it).
        Assert.False(TableElements.TryFromNft(TableSet.Containers, new NftElement([NftValue.IfName("w-010255012003"), NftValue.Address(IPAddress.Parse("10.255.12.2"))], [NftValue.Mark(1)]), out _));
    }

    [Fact]
    public void A_delta_becomes_one_netlink_batch_with_deletions_before_additions()
    {
        var before = PolicyCompiler.Compute(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        var after = PolicyCompiler.Compute(Inputs([P1, P1 with { StartPort = 8081, EndPort = 8085 }], Container("c1", "10.255.12.2", "backend")));
        var batch = NftScript.Delta(before, after).ToBatch();
        Assert.Equal(2, batch.Count);
        var bytes = batch.Encode(100, out var acks);
        Assert.Equal(2, acks);
        // BATCH_BEGIN, DELSETELEM (0x0a0e) with seq 101, NEWSETELEM (0x0a0c) with seq 102, BATCH_END.
        var types = new List<(int Type, uint Seq)>();
        for (var off = 0; off < bytes.Length;)
        {
            var len = BitConverter.ToInt32(bytes, off);
            types.Add((BitConverter.ToUInt16(bytes, off + 4), BitConverter.ToUInt32(bytes, off + 8)));
            off += (len + 3) & ~3;
        }
        Assert.Equal([(0x10, 100u), (0x0a0e, 101u), (0x0a0c, 102u), (0x11, 103u)], types);
    }

    // Overlay ingress (CF policy agent, enable_overlay_ingress_rules): the router's tag reaches each
    // local container's metadata ports over TCP, without a policy.
    private static LocalContainer WithPorts(LocalContainer c, params int[] ports) => c with { Ports = ports };

    [Fact]
    public void The_router_tag_may_reach_every_local_metadata_port_over_tcp()
    {
        var stats = new CompileStats();
        var t = PolicyCompiler.Compute(Inputs([],
            WithPorts(Container("c1", "10.255.12.2", "backend"), 8080, 2222),
            WithPorts(Container("c2", "10.255.12.3", "frontend"), 9000, 0, 70000),
            Container("c3", "10.255.12.4", "no-ports")) with { Router = new IngressRouter("INGRESS_ROUTER", 0x00ff) }, stats);
        Assert.Equal(
        [
            "0x000000ff . 10.255.12.2 . tcp . 2222",
            "0x000000ff . 10.255.12.2 . tcp . 8080",
            "0x000000ff . 10.255.12.3 . tcp . 9000",
        ], t.Text["allow"]);
        Assert.Empty(t.Text["allow_ranges"]);
        Assert.Equal(2, stats.SkippedPorts); // 0 and 70000
        // No router container here and no policies: every container is known, none sends with a tag.
        Assert.Equal(
        [
            "\"w-010255012002\" . 10.255.12.2 : 0x00000000",
            "\"w-010255012003\" . 10.255.12.3 : 0x00000000",
            "\"w-010255012004\" . 10.255.12.4 : 0x00000000",
        ], t.Text["containers"]);
    }

    [Fact]
    public void Without_a_router_metadata_ports_open_nothing()
    {
        var t = PolicyCompiler.Compute(Inputs([], WithPorts(Container("c1", "10.255.12.2", "backend"), 8080)));
        Assert.Empty(t.Text["allow"]);
        var zero = PolicyCompiler.Compute(Inputs([], WithPorts(Container("c1", "10.255.12.2", "backend"), 8080)) with { Router = new IngressRouter("INGRESS_ROUTER", 0) });
        Assert.Empty(zero.Text["allow"]);
    }

    [Fact]
    public void A_router_container_sends_with_the_router_tag()
    {
        var t = PolicyCompiler.Compute(Inputs([],
            Container("r1", "10.255.12.9", "INGRESS_ROUTER"),
            Container("c2", "10.255.12.3", "frontend")) with { Router = new IngressRouter("INGRESS_ROUTER", 0x00ff) });
        Assert.Equal(["\"w-010255012003\" . 10.255.12.3 : 0x00000000", "\"w-010255012009\" . 10.255.12.9 : 0x000000ff"], t.Text["containers"]);
    }

    [Fact]
    public void Router_ports_merge_with_policy_ranges_of_the_same_tag()
    {
        // A policy from the router to the backend on 8081-8090 and the backend's metadata port 8080:
        // one interval, no overlapping elements (nft refuses them).
        var t = PolicyCompiler.Compute(Inputs([new PolicyRule("INGRESS_ROUTER", 0x00ff, "backend", 2, "tcp", 8081, 8090)],
            WithPorts(Container("c1", "10.255.12.2", "backend"), 8080, 8085)) with { Router = new IngressRouter("INGRESS_ROUTER", 0x00ff) });
        Assert.Equal(["0x000000ff . 10.255.12.2 . tcp . 8080-8090"], t.Text["allow_ranges"]);
        Assert.Empty(t.Text["allow"]);
    }
}
