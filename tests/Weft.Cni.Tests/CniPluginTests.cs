using System.Net.Sockets;
using System.Text;

namespace Weft.Cni.Tests;

/// <summary>The plugin's commands over a fake kernel: IPAM, records, rollback, GC, STATUS.</summary>
public sealed class CniPluginTests : IDisposable
{
    private const string Netns = "/run/netns/fake";
    private readonly TestDirs _dirs = new();
    private readonly FakeDriver _driver = new();
    private readonly CniPlugin _plugin;

    public CniPluginTests()
    {
        _driver.Namespaces.Add(Netns);
        _plugin = new CniPlugin(_driver);
    }

    public void Dispose() => _dirs.Dispose();

    private static CniRequest Req(CniCommand command, string id = "c1", string ifName = "eth0", string? netns = Netns, string? args = null) =>
        new(command, id, netns, ifName, CniRequest.ParseArgs(args), null);

    private byte[] Run(CniCommand command, byte[] conf, string id = "c1", string ifName = "eth0", string? netns = Netns, string? args = null) =>
        _plugin.Execute(Req(command, id, ifName, netns, args), conf);

    private int Fails(CniCommand command, byte[] conf, string id = "c1", string? netns = Netns) =>
        Assert.Throws<CniException>(() => Run(command, conf, id, netns: netns)).Code;

    private IpamState Store => new IpamStore(_dirs.DataDir).Read();

    private ContainerRecords Records => new(_dirs.StateDir);

    private void AssertNothingLeft()
    {
        Assert.Empty(Store.Allocations);
        Assert.Empty(Records.List());
        Assert.Empty(_driver.Links);
        Assert.Empty(Directory.Exists(Records.Directory) ? Directory.GetFiles(Records.Directory) : []);
    }

    [Fact]
    public void Add_allocates_links_records_and_returns_the_result()
    {
        var output = Encoding.UTF8.GetString(Run(CniCommand.Add, _dirs.Config(subnet: "10.255.12.0/24", extra: ""","metadata":{"app_id":"app-1"}""")));
        Assert.Contains("\"address\":\"10.255.12.2/32\"", output);
        Assert.Equal(["w-010255012002"], _driver.Links);
        Assert.Equal("10.255.12.2", Store.Find("c1", "eth0")!.Ip.ToString());
        var record = Records.Read("c1", "eth0")!;
        Assert.Equal("app-1", record.AppId);
        Assert.Equal(Netns, record.Netns);
        Assert.Equal("w-010255012002", record.HostVeth);
    }

    [Fact]
    public void Add_uses_the_agents_lease_and_fails_with_try_again_without_one()
    {
        Assert.Equal(CniErrorCode.TryAgainLater, Fails(CniCommand.Add, _dirs.Config()));
        AssertNothingLeft();
        _dirs.WriteLease("10.255.40.0/24", 1350);
        var output = Encoding.UTF8.GetString(Run(CniCommand.Add, _dirs.Config()));
        Assert.Contains("\"address\":\"10.255.40.2/32\"", output);
        Assert.Contains("\"mtu\":1350", output);
    }

    [Fact]
    public void A_lease_that_is_not_a_slash_24_is_refused_and_nothing_is_allocated()
    {
        // .2–.254 of a /25 would reach into the next cell's block.
        _dirs.WriteLease("10.255.40.0/25", 1350);
        Fails(CniCommand.Add, _dirs.Config());
        AssertNothingLeft();
    }

    [Fact]
    public void Add_into_a_missing_namespace_is_code_3_and_creates_nothing()
    {
        Assert.Equal(CniErrorCode.UnknownContainer, Fails(CniCommand.Add, _dirs.Config(subnet: "10.255.12.0/24"), netns: "/run/netns/gone"));
        AssertNothingLeft();
    }

    [Fact]
    public void Add_twice_gives_the_same_address_and_one_link()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        var first = Run(CniCommand.Add, conf);
        var second = Run(CniCommand.Add, conf);
        Assert.Equal(first, second);
        Assert.Single(Store.Allocations);
        Assert.Single(_driver.Links);
    }

    [Theory]
    [InlineData("ipam")]
    [InlineData("link")]
    [InlineData("veth")]
    [InlineData("container")]
    [InlineData("host")]
    [InlineData("record")]
    [InlineData("notify")]
    public void A_failure_at_any_step_of_add_leaves_nothing_behind(string step)
    {
        _plugin.FaultPoint = s =>
        {
            if (s == step)
            {
                throw new CniException(CniErrorCode.KernelError, $"injected at {s}");
            }
        };
        var e = Assert.Throws<CniException>(() => Run(CniCommand.Add, _dirs.Config(subnet: "10.255.12.0/24")));
        Assert.Equal($"injected at {step}", e.Message);
        AssertNothingLeft();
    }

    [Fact]
    public void A_host_veth_that_already_exists_fails_add_and_is_left_alone()
    {
        _driver.Links.Add("w-010255012002");
        Assert.Equal(CniErrorCode.InterfaceExists, Fails(CniCommand.Add, _dirs.Config(subnet: "10.255.12.0/24")));
        Assert.Equal(["w-010255012002"], _driver.Links);
        Assert.Empty(Store.Allocations);
        Assert.Empty(Records.List());
    }

    [Fact]
    public void Del_frees_everything_and_is_idempotent()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        Run(CniCommand.Add, conf);
        Assert.Empty(Run(CniCommand.Del, conf));
        AssertNothingLeft();
        Run(CniCommand.Del, conf);
        Run(CniCommand.Del, conf, netns: null);
        Run(CniCommand.Del, conf, id: "never-added");
        AssertNothingLeft();
    }

    [Fact]
    public void Del_works_without_a_lease_or_namespace()
    {
        _dirs.WriteLease();
        Run(CniCommand.Add, _dirs.Config());
        File.Delete(Path.Combine(_dirs.StateDir, "lease.json"));
        _driver.Namespaces.Clear();
        Run(CniCommand.Del, _dirs.Config(), netns: "/run/netns/fake");
        AssertNothingLeft();
    }

    [Fact]
    public void A_full_subnet_is_code_101_and_leaks_nothing()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        for (var i = 0; i < 253; i++)
        {
            Run(CniCommand.Add, conf, id: $"c{i}");
        }

        Assert.Equal(CniErrorCode.SubnetFull, Fails(CniCommand.Add, conf, id: "one-too-many"));
        Assert.Equal(253, Store.Allocations.Count);
        Assert.Equal(253, Records.List().Count);
        Assert.Equal(253, _driver.Links.Count);
        Assert.Equal(CniErrorCode.NotAvailable, Fails(CniCommand.Status, conf));
    }

    [Fact]
    public void Check_passes_after_add_and_names_drift()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        var result = Encoding.UTF8.GetString(Run(CniCommand.Add, conf));
        var withPrev = _dirs.Config(subnet: "10.255.12.0/24", extra: $",\"prevResult\":{result}");
        Assert.Empty(Run(CniCommand.Check, withPrev));

        Assert.Equal(CniErrorCode.InvalidConfig, Fails(CniCommand.Check, conf));
        Assert.Equal(CniErrorCode.IncompatibleVersion, Fails(CniCommand.Check, _dirs.Config("0.3.1", subnet: "10.255.12.0/24", extra: $",\"prevResult\":{result}")));

        _driver.FailCheckWith = "route missing";
        Assert.Equal(CniErrorCode.CheckFailed, Fails(CniCommand.Check, withPrev));
        _driver.FailCheckWith = null;

        Records.Remove("c1", "eth0");
        var e = Assert.Throws<CniException>(() => Run(CniCommand.Check, withPrev));
        Assert.Equal(CniErrorCode.CheckFailed, e.Code);
        Assert.Contains("record", e.Message);

        Assert.Equal(CniErrorCode.CheckFailed, Fails(CniCommand.Check, withPrev, id: "other"));
    }

    [Fact]
    public void Status_reports_not_ready_without_a_lease_and_ok_with_one()
    {
        Assert.Equal(CniErrorCode.NotAvailable, Fails(CniCommand.Status, _dirs.Config()));
        _dirs.WriteLease();
        Assert.Empty(Run(CniCommand.Status, _dirs.Config()));
        Assert.Equal(CniErrorCode.IncompatibleVersion, Fails(CniCommand.Status, _dirs.Config("1.0.0")));
    }

    [Fact]
    public void Gc_frees_what_is_not_valid_and_keeps_what_is()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        Run(CniCommand.Add, conf, id: "keep");
        Run(CniCommand.Add, conf, id: "drop1");
        Run(CniCommand.Add, conf, id: "drop2", ifName: "eth1");
        var gc = _dirs.Config(extra: ""","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"},{"containerID":"drop2","ifname":"eth0"}]""");
        Assert.Empty(Run(CniCommand.Gc, gc, id: "x"));
        Assert.Equal(["keep"], Store.Allocations.Select(a => a.ContainerId));
        Assert.Equal(["keep"], Records.List().Select(r => r.ContainerId));
        Assert.Equal(["w-010255012002"], _driver.Links);

        Assert.Equal(CniErrorCode.InvalidConfig, Fails(CniCommand.Gc, _dirs.Config()));
        Assert.Equal(CniErrorCode.IncompatibleVersion, Fails(CniCommand.Gc, _dirs.Config("1.0.0", extra: ""","cni.dev/valid-attachments":[]""")));
    }

    [Fact]
    public void Gc_removes_a_record_without_an_allocation()
    {
        var conf = NetConf.Parse(_dirs.Config());
        Records.Write(ContainerRecord.Describe(Req(CniCommand.Add, id: "orphan"), conf, Ipv4.Parse("10.255.12.77"), DateTimeOffset.UtcNow));
        Run(CniCommand.Gc, _dirs.Config(extra: ""","cni.dev/valid-attachments":[]"""));
        Assert.Empty(Records.List());
        Assert.Contains("w-010255012077", _driver.Detached);
    }

    /// <summary>
    /// A record that outlived its allocation, whose address was handed out again: DEL and GC of the old
    /// attachment must leave the new owner's veth alone (it is named after the address, not the container).
    /// </summary>
    private void RecordOutlivesItsAllocationAndTheAddressGoesToAnother(byte[] conf)
    {
        Run(CniCommand.Add, conf, id: "old");
        var stale = Records.Read("old", "eth0")!;
        using (var s = new IpamStore(_dirs.DataDir).Open())
        {
            s.State.Release("old", "eth0");
            s.Commit();
        }

        Run(CniCommand.Add, conf, id: "new");
        var owned = Store.Find("new", "eth0")!.Ip;
        Records.Write(stale with { Ip = owned }); // the old record names the address the new owner holds
        _driver.Detached.Clear();
    }

    [Fact]
    public void Del_of_a_stale_record_leaves_the_new_owner_of_its_address_alone()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        RecordOutlivesItsAllocationAndTheAddressGoesToAnother(conf);
        var veth = Naming.HostVeth(Store.Find("new", "eth0")!.Ip);

        Run(CniCommand.Del, conf, id: "old");
        Assert.Empty(_driver.Detached);
        Assert.Contains(veth, _driver.Links);
        Assert.Null(Records.Read("old", "eth0"));
        Assert.Equal(["new"], Store.Allocations.Select(a => a.ContainerId));

        // A stale record whose address is free is still cleaned up (the leftover veth is detached).
        var free = Ipv4.Parse("10.255.12.77");
        Records.Write(Records.Read("new", "eth0")! with { ContainerId = "gone", Ip = free });
        Run(CniCommand.Del, conf, id: "gone");
        Assert.Equal([Naming.HostVeth(free)], _driver.Detached);
    }

    [Fact]
    public void Gc_of_a_stale_record_leaves_the_new_owner_of_its_address_alone()
    {
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        RecordOutlivesItsAllocationAndTheAddressGoesToAnother(conf);
        var veth = Naming.HostVeth(Store.Find("new", "eth0")!.Ip);

        Run(CniCommand.Gc, _dirs.Config(extra: ""","cni.dev/valid-attachments":[{"containerID":"new","ifname":"eth0"}]"""));
        Assert.Empty(_driver.Detached);
        Assert.Contains(veth, _driver.Links);
        Assert.Equal(["new"], Records.List().Select(r => r.ContainerId));
    }

    [Fact]
    public void Version_answers_without_config()
    {
        var output = Encoding.UTF8.GetString(_plugin.Execute(new CniRequest(CniCommand.Version, null, null, null, [], null), []));
        Assert.Equal("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}""", output);
    }

    [Fact]
    public void Add_and_del_send_one_datagram_to_the_agent()
    {
        var sockPath = Path.Combine(_dirs.StateDir, "agent.sock");
        using var agent = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        agent.Bind(new UnixDomainSocketEndPoint(sockPath));
        agent.ReceiveTimeout = 5000;
        var conf = _dirs.Config(subnet: "10.255.12.0/24");
        var buf = new byte[64];

        Run(CniCommand.Add, conf);
        Assert.Equal("containers", Encoding.UTF8.GetString(buf, 0, agent.Receive(buf)));
        Run(CniCommand.Del, conf);
        Assert.Equal("containers", Encoding.UTF8.GetString(buf, 0, agent.Receive(buf)));
        Assert.Equal(0, agent.Available);
    }

    [Fact]
    public void Add_without_an_agent_listening_still_succeeds()
    {
        Assert.NotEmpty(Run(CniCommand.Add, _dirs.Config(subnet: "10.255.12.0/24")));
        Assert.False(AgentNotifier.Notify(_dirs.StateDir));
    }
}
