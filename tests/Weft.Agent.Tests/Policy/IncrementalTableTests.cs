using System.Net;
using Weft.Agent.Policy;
using static Weft.Agent.Tests.Policy.Samples;

namespace Weft.Agent.Tests.Policy;

public class IncrementalTableTests
{
    private static readonly PolicyRule P1 = new("frontend", 1, "backend", 2, "tcp", 8080, 8080);
    private static readonly PolicyRule P2 = new("worker", 3, "backend", 2, "tcp", 9000, 9000);

    [Fact]
    public void One_added_policy_is_one_added_element()
    {
        var t = new IncrementalTable();
        t.Rebuild(Inputs([P1], Container("c1", "10.255.12.2", "backend")));
        var delta = t.Update(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend")));
        Assert.Equal("add element inet weft allow { 0x00000003 . 10.255.12.2 . tcp . 9000 }\n", delta.ToString());
        Assert.True(t.Update(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend"))).IsEmpty);
    }

    [Fact]
    public void Removing_one_of_two_merged_ranges_keeps_what_the_other_still_needs()
    {
        var wide = P1 with { StartPort = 8081, EndPort = 8090 };
        var same = P1 with { SourceApp = "frontend-v2" }; // another app with the same tag and the same port
        var t = new IncrementalTable();
        t.Rebuild(Inputs([P1, wide, same], Container("c1", "10.255.12.2", "backend")));
        Assert.Equal(["0x00000001 . 10.255.12.2 . tcp . 8080-8090"], t.ToTable().Text["allow_ranges"]);

        // 8081-8090 goes: 8080 stays, as a single port, still needed by P1 and by the other app.
        var delta = t.Update(Inputs([P1, same], Container("c1", "10.255.12.2", "backend")));
        Assert.Equal(
            "delete element inet weft allow_ranges { 0x00000001 . 10.255.12.2 . tcp . 8080-8090 }\n" +
            "add element inet weft allow { 0x00000001 . 10.255.12.2 . tcp . 8080 }\n", delta.ToString());

        // P1 goes: the other app still gives the same element, so nothing changes in the table.
        Assert.True(t.Update(Inputs([same], Container("c1", "10.255.12.2", "backend"))).IsEmpty);
        // The last one goes: the element, and the backend's tag (no policy names it any more).
        Assert.Equal(
            "delete element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000002 }\n" +
            "delete element inet weft allow { 0x00000001 . 10.255.12.2 . tcp . 8080 }\n" +
            "add element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000000 }\n",
            t.Update(Inputs([], Container("c1", "10.255.12.2", "backend"))).ToString());
    }

    [Fact]
    public void Two_records_of_different_apps_at_one_address_leave_it_untagged_and_unreachable_by_policy_whatever_their_order()
    {
        // A stale record (its container gone without a CNI DEL) and a new container at the same address:
        // one key in the containers map can hold one mark, and which app is there is in doubt: mark 0
        // and no allow entries for the address (fail closed both ways), in both computations, until one
        // record goes.
        var stale = Container("old", "10.255.12.2", "backend");  // tag 2, the destination of P1 and P2
        var fresh = Container("new", "10.255.12.2", "frontend"); // tag 1
        foreach (var order in new[] { new[] { stale, fresh }, [fresh, stale] })
        {
            var stats = new CompileStats();
            var full = PolicyCompiler.Compute(Inputs([P1, P2], order), stats);
            Assert.Equal(["\"w-010255012002\" . 10.255.12.2 : 0x00000000"], full.Text["containers"]);
            Assert.Empty(full.Text["allow"]);
            Assert.Equal(1, stats.ConflictingAddresses);
            var t = new IncrementalTable();
            t.Rebuild(Inputs([P1, P2], order));
            Assert.True(t.ToTable().SameElements(full));
            Assert.Equal(1, t.Stats.ConflictingAddresses);
        }
        var inc = new IncrementalTable();
        inc.Rebuild(Inputs([P1, P2], stale, fresh));
        Assert.Equal(
            "delete element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000000 }\n" +
            "add element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000002 }\n" +
            "add element inet weft allow { 0x00000001 . 10.255.12.2 . tcp . 8080, 0x00000003 . 10.255.12.2 . tcp . 9000 }\n",
            inc.Update(Inputs([P1, P2], stale)).ToString());
        Assert.Equal(0, inc.Stats.ConflictingAddresses);
        Assert.True(inc.Update(Inputs([P1, P2], stale)).IsEmpty);
        // And back into doubt: the entries go again.
        Assert.Equal(
            "delete element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000002 }\n" +
            "delete element inet weft allow { 0x00000001 . 10.255.12.2 . tcp . 8080, 0x00000003 . 10.255.12.2 . tcp . 9000 }\n" +
            "add element inet weft containers { \"w-010255012002\" . 10.255.12.2 : 0x00000000 }\n",
            inc.Update(Inputs([P1, P2], stale, fresh)).ToString());
    }

    [Fact]
    public void A_new_container_of_the_destination_app_gets_the_apps_entries_and_its_tag()
    {
        var t = new IncrementalTable();
        t.Rebuild(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend")));
        var delta = t.Update(Inputs([P1, P2], Container("c1", "10.255.12.2", "backend"), Container("c9", "10.255.12.9", "backend")));
        Assert.Equal(
            "add element inet weft containers { \"w-010255012009\" . 10.255.12.9 : 0x00000002 }\n" +
            "add element inet weft allow { 0x00000001 . 10.255.12.9 . tcp . 8080, 0x00000003 . 10.255.12.9 . tcp . 9000 }\n", delta.ToString());
    }

    [Fact]
    public void The_router_tag_moves_its_metadata_ports_and_a_conflicting_app_turns_ingress_off()
    {
        var c1 = Container("c1", "10.255.12.2", "backend") with { Ports = [8080] };
        var t = new IncrementalTable();
        t.Rebuild(Inputs([], c1) with { Router = new IngressRouter("INGRESS_ROUTER", 7) });
        Assert.Equal(["0x00000007 . 10.255.12.2 . tcp . 8080"], t.ToTable().Text["allow"]);
        Assert.Equal(
            "delete element inet weft allow { 0x00000007 . 10.255.12.2 . tcp . 8080 }\n" +
            "add element inet weft allow { 0x00000008 . 10.255.12.2 . tcp . 8080 }\n",
            t.Update(Inputs([], c1) with { Router = new IngressRouter("INGRESS_ROUTER", 8) }).ToString());
        // Another app holds tag 8 in a policy: ingress is left out rather than opened to that app.
        var other = new PolicyRule("other", 8, "x", 9, "udp", 1, 1);
        Assert.Equal("delete element inet weft allow { 0x00000008 . 10.255.12.2 . tcp . 8080 }\n",
            t.Update(Inputs([other], c1) with { Router = new IngressRouter("INGRESS_ROUTER", 8) }).ToString());
        Assert.Null(t.Router);
    }

    /// <summary>
    /// The guard of the incremental path: random sequences of policy, container, cell and router
    /// changes; after every step the incremental state equals a full recompute, its delta turns the
    /// previous table into the new one (never deleting an absent element or adding a present one, which
    /// the kernel would refuse or ignore), and the skip counters agree.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Random_changes_keep_the_incremental_table_equal_to_a_full_recompute(int seed)
    {
        var rng = new Random(seed);
        var apps = new[] { "a", "b", "c", "d", "e", "INGRESS_ROUTER" };
        int TagOf(string app) => rng.Next(20) == 0 ? rng.Next(1, 8) : Array.IndexOf(apps, app) + 1; // mostly one tag per app
        PolicyRule RandomPolicy()
        {
            string src = apps[rng.Next(apps.Length)], dst = apps[rng.Next(apps.Length)];
            int s = rng.Next(1, 16), e = s + (rng.Next(3) == 0 ? 0 : rng.Next(0, 6));
            var p = new PolicyRule(src, TagOf(src), dst, TagOf(dst), rng.Next(3) == 0 ? "udp" : rng.Next(10) == 0 ? "TCP" : "tcp", s, e);
            return rng.Next(25) switch
            {
                0 => p with { SourceTag = 0 },
                1 => p with { Protocol = "icmp" },
                2 => p with { StartPort = e + 1, EndPort = s },
                _ => p,
            };
        }
        LocalContainer RandomContainer()
        {
            var id = $"c{rng.Next(10)}";
            var ip = $"10.255.12.{rng.Next(2, 9)}";
            var c = Container(id, ip, apps[rng.Next(apps.Length)]);
            var mappings = Enumerable.Range(0, rng.Next(3)).Select(_ => new PortMapping(rng.Next(15) == 0 ? 0 : 61000 + rng.Next(4),
                rng.Next(1, 10), rng.Next(8) == 0 ? "sctp" : rng.Next(2) == 0 ? "tcp" : "udp")).ToArray();
            c = c with { PortMappings = mappings, Ports = Enumerable.Range(0, rng.Next(3)).Select(_ => rng.Next(12) == 0 ? 70000 : rng.Next(1, 16)).ToArray() };
            if (rng.Next(15) == 0) c = c with { HostVeth = "w-bogus" };
            if (rng.Next(15) == 0) c = c with { IfName = "eth1" };
            return c;
        }

        var policies = new List<PolicyRule>();
        var containers = new List<LocalContainer>();
        var cellPool = new[] { "198.18.0.11", "198.18.0.12", "198.18.0.13", "fd00::1" }.Select(IPAddress.Parse).ToArray();
        var cells = new List<IPAddress> { cellPool[0] };
        IngressRouter? router = null;
        var t = new IncrementalTable();
        DesiredTable? before = null;
        for (var step = 0; step < 150; step++)
        {
            // A few changes per step; policies are a new list each time (as a new snapshot is), in a
            // stable order with insertions anywhere, sometimes shuffled, sometimes fresh copies.
            policies = [.. policies];
            for (var k = rng.Next(1, 4); k > 0; k--)
            {
                switch (rng.Next(10))
                {
                    case < 3: policies.Insert(rng.Next(policies.Count + 1), RandomPolicy()); break;
                    case 3: if (policies.Count > 0) policies.Insert(rng.Next(policies.Count + 1), policies[rng.Next(policies.Count)]); break; // duplicate
                    case < 6: if (policies.Count > 0) policies.RemoveAt(rng.Next(policies.Count)); break;
                    case 6: containers.Add(RandomContainer()); break;
                    case 7: if (containers.Count > 0) containers.RemoveAt(rng.Next(containers.Count)); else containers.Add(RandomContainer()); break;
                    case 8: router = rng.Next(4) == 0 ? null : new IngressRouter("INGRESS_ROUTER", rng.Next(0, 9)); break;
                    default: cells = cellPool.Where(_ => rng.Next(2) == 0).ToList(); break;
                }
            }
            if (rng.Next(10) == 0) policies = [.. policies.OrderBy(_ => rng.Next())];
            if (rng.Next(10) == 0) policies = policies.Select(p => p with { SourceApp = new string(p.SourceApp.AsSpan()) }).ToList();
            if (rng.Next(10) == 0) containers = [.. containers.OrderBy(_ => rng.Next())];
            var inputs = new PolicyInputs(Samples.Cell, policies, containers.ToArray(), cells.ToArray()) { Router = router };

            var stats = new CompileStats();
            var full = PolicyCompiler.Compute(inputs, stats);
            var delta = step == 0 ? null : t.Update(inputs);
            if (step == 0) t.Rebuild(inputs);
            var incremental = t.ToTable();
            foreach (var set in TableElements.All)
            {
                Assert.True(full[set].SequenceEqual(incremental[set]),
                    $"seed {seed} step {step} {set.Name()}: full [{string.Join(", ", full.Text[set.Name()])}] incremental [{string.Join(", ", incremental.Text[set.Name()])}]");
            }
            Assert.Equal((stats.SkippedPolicies, stats.SkippedContainers, stats.SkippedPortMappings, stats.SkippedPorts),
                (t.Stats.SkippedPolicies, t.Stats.SkippedContainers, t.Stats.SkippedPortMappings, t.Stats.SkippedPorts));
            Assert.Equal(full.ElementCount, t.ElementCount);
            Assert.Equal(PolicyCompiler.ResolveRouter(router, policies.Where(PolicyCompiler.IsValid)), t.Router);
            if (delta is not null)
            {
                // The delta, applied to the previous table as the kernel would, gives the new one.
                foreach (var set in TableElements.All)
                {
                    var kernel = new SortedSet<TableElement>(before![set]);
                    var change = delta.Changes.SingleOrDefault(c => c.Set == set);
                    foreach (var e in change?.Removed ?? []) Assert.True(kernel.Remove(e), $"seed {seed} step {step}: deletes absent {TableElements.Text(set, e)}");
                    foreach (var e in change?.Added ?? []) Assert.True(kernel.Add(e), $"seed {seed} step {step}: adds present {TableElements.Text(set, e)}");
                    Assert.Equal(full[set].ToArray(), kernel.ToArray());
                }
                Assert.Equal(NftScript.Delta(before!, full).ToString(), delta.ToString());
            }
            before = full;
        }
    }
}
