using System.Net;
using Weft.Linux.Nft;
using Weft.TestSupport;
using static Weft.Linux.Tests.Nft.NftSample;

namespace Weft.Linux.Tests.Nft;

/// <summary>Root tests: libnftables against the kernel, inside throwaway namespaces.</summary>
public class NftContextTests
{
    [RootFact]
    public void Context_opened_in_a_namespace_programs_that_namespace_from_any_thread()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);

        // This test thread is in the machine's namespace; the context's socket is not.
        nft.Apply("add table inet weft_probe");

        Assert.Contains("table inet weft_probe", ns.Exec("nft", "list", "tables"));
        using NftContext here = NftContext.Open();
        Assert.Null(here.TryListTableJson(NftFamily.Inet, "weft_probe"));
    }

    [RootFact]
    public void Applied_table_reads_back_as_the_model()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);
        NftTable want = Table();

        nft.Apply(new NftBatch().ReplaceTable(want));

        string json = nft.ListTableJson(NftFamily.Inet, "weft");
        NftTable got = NftJson.ReadTable(json);
        Assert.Equal(NftFamily.Inet, got.Family);
        Assert.Equal("weft", got.Name);
        Assert.Equal(want.Chains.Select(c => (c.Name, c.Hook)), got.Chains.Select(c => (c.Name, c.Hook)));
        foreach (INftSetLike s in want.Sets.Cast<INftSetLike>().Concat(want.Maps))
        {
            INftSetLike g = got.FindSetOrMap(s.Name)!;
            Assert.Equal(s.KeyTypes, g.KeyTypes);
            Assert.Equal(s.ValueTypes, g.ValueTypes);
            Assert.Equal(s.Flags, g.Flags);
            Assert.Equal(s.Elements.ToHashSet(), g.Elements.ToHashSet());
        }

        IReadOnlyList<NftRuleState> rules = NftJson.ReadRules(json);
        Assert.Equal(want.Chains.Sum(c => c.Rules.Count), rules.Count);
        Assert.Contains(rules, r => r.Chain == "forward" && r.Comment == "c2c allow" && r.Packets == 0);

        // The same table, as nft's own CLI reads it.
        Assert.Contains("meta mark . ip daddr . meta l4proto . th dport @policy_allow", ns.Exec("nft", "list", "table", "inet", "weft"));
    }

    [RootFact]
    public void Malformed_script_throws_nft_message_and_changes_nothing()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);
        nft.Apply(new NftBatch().ReplaceTable(Table()));
        string before = Snapshot(nft);

        string script = "add element inet weft underlay { 198.18.5.5 }\nadd rule inet weft forward th dport 70000 accept\n";
        var e = Assert.Throws<NftException>(() => nft.Apply(script));

        Assert.Equal(2, e.Line);
        Assert.Equal("add rule inet weft forward th dport 70000 accept", e.ScriptLine);
        Assert.Contains("Error:", e.NftMessage);
        Assert.Contains("70000", e.NftMessage);
        Assert.Equal(0, e.Errno); // refused by nft itself, before the kernel
        Assert.Equal(before, Snapshot(nft));
    }

    [RootFact]
    public void Batch_with_one_statement_the_kernel_refuses_applies_nothing()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);
        NftTable t = Table();
        nft.Apply(new NftBatch().ReplaceTable(t));
        string before = Snapshot(nft);

        NftBatch batch = new NftBatch()
            .AddElements(t, "underlay", [NftElement.Of(Ip("198.18.9.9"))])
            .AddElements(t, "policy_allow", [Policy(9, "10.255.12.9", NftValue.Tcp, NftValue.Port(80))])
            // not there: the kernel refuses this one (ENOENT), after the adds were queued
            .DeleteElements(t, "tags", [NftElement.Map(Ip("10.255.99.99"), NftValue.Mark(1))]);
        var e = Assert.Throws<NftException>(() => nft.Apply(batch));

        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal(3, e.Line);
        Assert.Equal(before, Snapshot(nft));
        Assert.DoesNotContain(NftElement.Of(Ip("198.18.9.9")), nft.ListElements(NftFamily.Inet, "weft", "underlay"));
    }

    [RootFact]
    public void Element_changes_apply_incrementally_and_read_back()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);
        NftTable t = Table();
        nft.Apply(new NftBatch().ReplaceTable(t));

        NftElement added = Policy(0xffff, "10.255.12.4", NftValue.Udp, NftValue.PortRange(1000, 2000));
        NftElement removed = t.Sets[0].Elements[0];
        nft.Apply(new NftBatch().AddElements(t, "policy_allow", [added]).DeleteElements(t, "policy_allow", [removed]));

        var got = nft.ListElements(NftFamily.Inet, "weft", "policy_allow").ToHashSet();
        Assert.Equal(t.Sets[0].Elements.Except([removed]).Append(added).ToHashSet(), got);

        // Single values in every field (narrow proto and port fields): delete finds what add added.
        NftElement single = Policy(0x42, "10.255.12.5", NftValue.Tcp, NftValue.Port(8080));
        nft.Apply(new NftBatch().AddElements(t, "policy_allow", [single]));
        Assert.Contains(single, nft.ListElements(NftFamily.Inet, "weft", "policy_allow"));
        nft.Apply(new NftBatch().DeleteElements(t, "policy_allow", [single]));
        Assert.DoesNotContain(single, nft.ListElements(NftFamily.Inet, "weft", "policy_allow"));

        // A map value changes by delete + add in one transaction.
        nft.Apply(new NftBatch()
            .DeleteElements(t, "tags", [NftElement.Map(Ip("10.255.12.2"), NftValue.Mark(5))])
            .AddElements(t, "tags", [NftElement.Map(Ip("10.255.12.2"), NftValue.Mark(6))]));
        Assert.Equal([NftElement.Map(Ip("10.255.12.2"), NftValue.Mark(6))], nft.ListElements(NftFamily.Inet, "weft", "tags"));
    }

    [RootFact]
    public void Check_evaluates_without_applying()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);

        nft.Check(new NftBatch().ReplaceTable(Table()).Render());
        Assert.Null(nft.TryListTableJson(NftFamily.Inet, "weft"));
        Assert.Throws<NftException>(() => nft.Check("add rule inet weft forward bogus"));
    }

    [RootFact]
    public void Missing_table_is_ENOENT()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext nft = NftContext.Open(ns.Ns);

        var e = Assert.Throws<NftException>(() => nft.ListTableJson(NftFamily.Inet, "weft"));
        Assert.Equal(Errno.ENOENT, e.Errno);
        nft.Apply(new NftBatch().RemoveTable(NftFamily.Inet, "weft")); // idempotent removal
    }

    [RootFact]
    public void Replacing_the_table_never_leaves_a_moment_without_it()
    {
        using var ns = TestNetns.Create("nft");
        using NftContext writer = NftContext.Open(ns.Ns);
        using NftContext reader = NftContext.Open(ns.Ns);
        var policies = Enumerable.Range(0, 500).Select(i => Policy((uint)(i % 100) + 1, $"10.255.{i / 250}.{i % 250 + 1}", NftValue.Tcp, NftValue.Port(8080))).ToList();
        writer.Apply(new NftBatch().ReplaceTable(Table(policies)));

        int missing = 0, reads = 0;
        using var stop = new CancellationTokenSource();
        var readerThread = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (reader.TryListTableJson(NftFamily.Inet, "weft") is null)
                {
                    Interlocked.Increment(ref missing);
                }

                Interlocked.Increment(ref reads);
            }
        });
        readerThread.Start();
        // At least 100 replacements, and on until the reader has read more than 10 times while they go on (it could
        // be starved at first on a loaded machine; 60 s bound).
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 100 || (Volatile.Read(ref reads) <= 10 && sw.Elapsed < TimeSpan.FromSeconds(60)); i++)
        {
            writer.Apply(new NftBatch().ReplaceTable(Table(policies, i % 2 == 0 ? NftChainPolicy.Drop : NftChainPolicy.Accept)));
        }

        stop.Cancel();
        readerThread.Join();
        Assert.True(reads > 10, $"reader only ran {reads} times");
        Assert.Equal(0, missing);
    }

    /// <summary>The table's definition and contents without handles (which change on every apply).</summary>
    private static string Snapshot(NftContext nft) =>
        string.Join('\n', nft.Run("list table inet weft").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));
}
