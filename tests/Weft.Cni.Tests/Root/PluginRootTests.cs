using System.Net;
using System.Text.Json;
using Weft.Linux;
using Weft.TestSupport;

namespace Weft.Cni.Tests.Root;

/// <summary>bin/weft-cni against the real kernel, in throwaway namespaces (the host is a wefttest-* namespace).</summary>
public sealed class PluginRootTests : IDisposable
{
    private readonly CniHost _h = new();

    public void Dispose() => _h.Dispose();

    [RootFact]
    public void Add_builds_the_documented_attachment_and_del_removes_it()
    {
        var c = _h.Container("c1");
        var result = _h.Add(c, args: "IgnoreUnknown=1;WEFT_APP_ID=app-1;WEFT_INSTANCE_INDEX=2").Ok();
        using (var doc = JsonDocument.Parse(result.Stdout))
        {
            Assert.Equal("1.1.0", doc.RootElement.GetProperty("cniVersion").GetString());
            Assert.Equal("10.255.12.2/32", doc.RootElement.GetProperty("ips")[0].GetProperty("address").GetString());
        }

        var ip = IPAddress.Parse("10.255.12.2");
        var gw = IPAddress.Parse("169.254.0.1");

        // Container side.
        var eth0 = c.Netlink.LinkByName("eth0");
        Assert.True(eth0.IsUp);
        Assert.Equal(1400, eth0.Mtu);
        Assert.Equal("EE-EE-0A-FF-0C-02", FormatMac(eth0.Mac!.GetAddressBytes()));
        var addr = Assert.Single(c.Netlink.AddrList(eth0.Index, System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.Equal(new IpPrefix(ip, 32), addr.Prefix);
        Assert.Equal(gw, addr.Peer);
        Assert.Contains(c.Netlink.RouteList(), r => r.Dst is null && gw.Equals(r.Gateway) && r.Device == eth0.Index);
        Assert.Contains(c.Netlink.NeighList(eth0.Index), n => gw.Equals(n.Ip) && n.State == Nda.NUD_PERMANENT
            && FormatMac(n.Mac!.GetAddressBytes()) == "AA-AA-0A-FF-0C-02");
        // IPv6 off: no address generated (addrgenmode none), so no IPv6 address at all once the link is up
        // (the kernel would add the link-local one when it sees the carrier, which also sets the operstate).
        Assert.Equal("1", Sysctl.Read(c.Ns, "net/ipv6/conf/eth0/addr_gen_mode"));
        WaitOperUp(c.Netlink, "eth0");
        Assert.Empty(c.Netlink.AddrList(eth0.Index, System.Net.Sockets.AddressFamily.InterNetworkV6));
        Assert.Equal("1", Sysctl.Read(c.Ns, "net/ipv4/conf/eth0/rp_filter"));

        // Host side.
        var host = _h.Host.Netlink.LinkByName("w-010255012002");
        Assert.True(host.IsUp);
        Assert.Equal("veth", host.Kind);
        Assert.Equal(1400, host.Mtu);
        var hostAddr = Assert.Single(_h.Host.Netlink.AddrList(host.Index, System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.Equal(new IpPrefix(gw, 32), hostAddr.Prefix);
        Assert.Equal(ip, hostAddr.Peer);
        Assert.Contains(_h.Host.Netlink.RouteList(), r => r.Device == host.Index && r.Dst == new IpPrefix(ip, 32));
        Assert.Contains(_h.Host.Netlink.NeighList(host.Index), n => ip.Equals(n.Ip) && n.State == Nda.NUD_PERMANENT);
        Assert.Equal("1", Sysctl.Read(_h.Host.Ns, "net/ipv6/conf/w-010255012002/disable_ipv6"));
        Assert.Equal("1", Sysctl.Read(_h.Host.Ns, "net/ipv6/conf/w-010255012002/addr_gen_mode"));
        WaitOperUp(_h.Host.Netlink, "w-010255012002");
        Assert.Empty(_h.Host.Netlink.AddrList(host.Index, System.Net.Sockets.AddressFamily.InterNetworkV6));
        Assert.Equal("1", Sysctl.Read(_h.Host.Ns, "net/ipv4/conf/w-010255012002/rp_filter"));
        Assert.Equal("1", Sysctl.Read(_h.Host.Ns, "net/ipv4/ip_forward"));

        // IPAM and the record.
        Assert.Equal(Ipv4.Parse("10.255.12.2"), _h.Store.Find("c1", "eth0")!.Ip);
        var record = _h.Records.Read("c1", "eth0")!;
        Assert.Equal("app-1", record.AppId);
        Assert.Equal(2, record.InstanceIndex);
        Assert.Equal(CniHost.NetnsPath(c), record.Netns);

        _h.Del(c).Ok();
        _h.AssertEmpty();
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
    }

    [RootFact]
    public void Del_disconnects_at_once_and_the_veth_is_deleted_in_the_background()
    {
        var a = _h.Container("a");
        var b = _h.Container("b");
        _h.Add(a, id: "a").Ok();
        _h.Add(b, id: "b").Ok();
        _h.Del(a, id: "a").Ok();

        // Right after DEL: a's host veth has lost its address (or is already deleted), no route to it, the address is free.
        if (_h.Host.Netlink.TryLinkByName("w-010255012002") is { } detached)
        {
            Assert.Empty(_h.Host.Netlink.AddrList(detached.Index, System.Net.Sockets.AddressFamily.InterNetwork));
        }
        Assert.DoesNotContain(_h.Host.Netlink.RouteList(), r => r.Dst is { } d && d.Address.Equals(IPAddress.Parse("10.255.12.2")));
        Assert.Null(_h.Store.Find("a", "eth0"));
        Assert.False(CniHost.Ping(b, "10.255.12.2"));

        // The down veth goes away by itself.
        Assert.Equal(["w-010255012003"], _h.HostLinks());
        Assert.Null(a.Netlink.TryLinkByName("eth0"));
    }

    [RootFact]
    public void Del_of_a_record_that_outlived_its_allocation_does_not_disconnect_the_addresses_new_owner()
    {
        // "old" was attached, then lost its allocation but kept its record (an interrupted DEL, a restored store);
        // its address went to "new". The old record names new's address, and so new's host veth.
        var old = _h.Container("old");
        var fresh = _h.Container("new");
        _h.Add(old, id: "old").Ok();
        var stale = _h.Records.Read("old", "eth0")!;
        using (var s = new IpamStore(_h.Dirs.DataDir).Open())
        {
            s.State.Release("old", "eth0");
            s.Commit();
        }

        _h.Add(fresh, id: "new").Ok();
        var ip = _h.Store.Find("new", "eth0")!.Ip;
        _h.Records.Write(stale with { Ip = ip });

        _h.Del(old, id: "old").Ok();

        var veth = _h.Host.Netlink.LinkByName(Naming.HostVeth(ip));
        Assert.Single(_h.Host.Netlink.AddrList(veth.Index, System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.True(CniHost.Ping(_h.Host, ip.ToString()), "the new owner is still reachable");
        Assert.Equal(["new"], _h.Store.Allocations.Select(a => a.ContainerId));
        Assert.Null(_h.Records.Read("old", "eth0"));
    }

    [RootFact]
    public void Add_replaces_a_detached_veth_that_still_holds_the_name()
    {
        // What a DEL leaves for the background: w-<ip> with weft's MAC for that IP, without its address.
        var leftover = _h.Container("leftover");
        _h.Host.Netlink.LinkAddVeth("w-010255012002", "eth0", leftover.Ns, mac: new System.Net.NetworkInformation.PhysicalAddress(Naming.HostMac(Ipv4.Parse("10.255.12.2"))));
        var c = _h.Container("c1");
        _h.Add(c).Ok();
        Assert.True(_h.Host.Netlink.LinkByName("w-010255012002").IsUp);
        Assert.Null(leftover.Netlink.TryLinkByName("eth0"));
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
    }

    [RootFact]
    public void Add_right_after_del_takes_over_the_container_interface_the_reaper_has_not_deleted_yet()
    {
        // What DEL leaves until its background child runs: the pair, the host end without its address, no
        // allocation, no record. The runtime's next ADD for the same container gets the next address (round-robin),
        // so the host name is free, but the container's eth0 is still there.
        var c = _h.Container("c1");
        _h.Add(c).Ok();
        _h.Host.Ip("addr flush dev w-010255012002");
        using (var s = new IpamStore(_h.Dirs.DataDir).Open())
        {
            s.State.Release("c1", "eth0");
            s.Commit();
        }

        _h.Records.Remove("c1", "eth0");

        _h.Add(c).Ok();
        Assert.Equal(["w-010255012003"], _h.HostLinks());
        var eth0 = c.Netlink.LinkByName("eth0");
        Assert.Equal(IPAddress.Parse("10.255.12.3"), c.Netlink.AddrList(eth0.Index, System.Net.Sockets.AddressFamily.InterNetwork).Single().Prefix.Address);
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
    }

    [RootFact]
    public void A_container_restarted_over_and_over_gets_connected_every_time()
    {
        // A runtime restarting a container: DEL, then ADD at once, while DEL's background child may still be deleting
        // the old pair (the exact interleaving that used to fail is pinned down in FaultInjectionRootTests).
        var c = _h.Container("c1");
        for (var i = 0; i < 60; i++)
        {
            _h.Add(c).Ok();
            _h.Del(c).Ok();
        }

        _h.Add(c).Ok();
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
    }

    [RootFact]
    public void A_kernel_refusal_inside_the_containers_batch_fails_add_with_103_and_leaves_nothing()
    {
        // The container's options, address, link state, neighbour and route go to the kernel in one datagram: a
        // default route already there makes the last of them fail (EEXIST); the ADD must report it and roll back.
        var c = _h.Container("c1");
        c.Netlink.RouteAdd(new Weft.Linux.Route { Type = Weft.Linux.Rtm.RTN_BLACKHOLE, Family = System.Net.Sockets.AddressFamily.InterNetwork });
        var run = _h.Add(c);
        Assert.Equal(CniErrorCode.KernelError, run.ErrorCode);
        Assert.Contains("ip route add default via 169.254.0.1", run.Stdout);
        Assert.Contains("eth0 in /run/netns/", run.Stdout);
        Assert.Contains("EEXIST", run.Stdout);
        _h.AssertEmpty();
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
    }

    [RootFact]
    public void A_foreign_interface_with_the_containers_name_fails_add_and_is_left_alone()
    {
        var c = _h.Container("c1");
        _h.Host.Netlink.LinkAddVeth("foreign", "eth0", c.Ns);
        Assert.Equal(CniErrorCode.InterfaceExists, _h.Add(c).ErrorCode);
        Assert.Equal(["foreign"], _h.HostLinks());
        Assert.NotNull(c.Netlink.TryLinkByName("eth0"));
        Assert.Empty(_h.Store.Allocations);
    }

    [RootFact]
    public void Gc_deletes_detached_veths_a_reaper_left_and_nothing_else()
    {
        _h.Host.Netlink.LinkAddVeth("w-010255012077", "peer", mac: new System.Net.NetworkInformation.PhysicalAddress(Naming.HostMac(Ipv4.Parse("10.255.12.77"))));
        _h.Host.Netlink.LinkAddVeth("w-010255012078", "foreign");
        _h.Run("GC", _h.Conf(extra: ""","cni.dev/valid-attachments":[]"""), null, null, null).Ok();
        Assert.Equal(["foreign", "w-010255012078"], _h.Host.Netlink.LinkList().Select(l => l.Name).Where(n => n != "lo").Order());
    }

    /// <summary>Waits (up to 60 s) until the kernel's link watch has seen the carrier (operstate UP).</summary>
    private static void WaitOperUp(Netlink nl, string name)
    {
        for (var i = 0; i < 3000 && nl.LinkByName(name).OperState != 6 /* IF_OPER_UP */; i++)
        {
            Thread.Sleep(20);
        }

        Assert.Equal(6, nl.LinkByName(name).OperState);
    }

    private static string FormatMac(byte[] b) => string.Join('-', b.Select(x => x.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    [RootFact]
    public void Two_containers_reach_each_other_and_the_host_side()
    {
        var a = _h.Container("a");
        var b = _h.Container("b");
        _h.Add(a, id: "a").Ok();
        _h.Add(b, id: "b").Ok();
        Assert.True(CniHost.Ping(a, "10.255.12.3"), "a -> b");
        Assert.True(CniHost.Ping(b, "10.255.12.2"), "b -> a");
        Assert.True(CniHost.Ping(a, "169.254.0.1"), "a -> host side");
        Assert.True(CniHost.Ping(_h.Host, "10.255.12.2"), "host -> a");

        // TCP too: a listens, b connects through the host's routing.
        using var server = new System.Diagnostics.Process
        {
            StartInfo = new System.Diagnostics.ProcessStartInfo("ip", ["netns", "exec", a.Name, "/bin/busybox", "nc", "-l", "-p", "8080", "-e", "/bin/busybox", "echo", "hello-from-a"])
            { UseShellExecute = false, RedirectStandardOutput = true },
        };
        server.Start();
        try
        {
            string reply = "";
            for (var i = 0; i < 50 && !reply.Contains("hello-from-a", StringComparison.Ordinal); i++)
            {
                try
                {
                    reply = b.Exec("/bin/busybox", "nc", "-w", "2", "10.255.12.2", "8080");
                }
                catch (CmdException)
                {
                    Thread.Sleep(100); // the listener is not up yet
                }
            }

            Assert.Contains("hello-from-a", reply);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }
        }

        _h.Del(a, id: "a").Ok();
        Assert.False(CniHost.Ping(b, "10.255.12.2"), "a is gone");
        _h.Del(b, id: "b").Ok();
        _h.AssertEmpty();
    }

    [RootFact]
    public void Check_passes_after_add_and_reports_drift()
    {
        var c = _h.Container("c1");
        var result = _h.Add(c).Ok().Stdout;
        var conf = _h.Conf(extra: $",\"prevResult\":{result}");
        _h.Run("CHECK", conf, "c1", CniHost.NetnsPath(c)).Ok();

        c.Netlink.RouteDel(new Route { Gateway = IPAddress.Parse("169.254.0.1"), Device = c.Netlink.LinkByName("eth0").Index, Family = System.Net.Sockets.AddressFamily.InterNetwork });
        var drift = _h.Run("CHECK", conf, "c1", CniHost.NetnsPath(c));
        Assert.Equal(CniErrorCode.CheckFailed, drift.ErrorCode);
        Assert.Contains("default route", drift.Stdout);

        _h.Host.Netlink.LinkSetMtu("w-010255012002", 1300);
        Assert.Equal(CniErrorCode.CheckFailed, _h.Run("CHECK", conf, "c1", CniHost.NetnsPath(c)).ErrorCode);
        _h.Del(c).Ok();
        Assert.Equal(CniErrorCode.CheckFailed, _h.Run("CHECK", conf, "c1", CniHost.NetnsPath(c)).ErrorCode);
    }

    [RootFact]
    public void Del_after_the_namespace_is_gone_and_del_twice_succeed()
    {
        var c = _h.Container("c1");
        _h.Add(c).Ok();
        var path = CniHost.NetnsPath(c);
        c.Dispose(); // the namespace is deleted: its veth end dies, and with it the host end
        _h.Run("DEL", _h.Conf(), "c1", path).Ok();
        _h.Run("DEL", _h.Conf(), "c1", path).Ok();
        _h.Run("DEL", _h.Conf(), "c1", null).Ok();
        _h.AssertEmpty();
    }

    [RootFact]
    public void Add_twice_for_the_same_container_keeps_the_address()
    {
        var c = _h.Container("c1");
        var first = _h.Add(c).Ok().Stdout;
        var second = _h.Add(c).Ok().Stdout;
        Assert.Equal(first, second);
        Assert.Single(_h.HostLinks());
        Assert.Single(_h.Store.Allocations);
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
        _h.Del(c).Ok();
        _h.AssertEmpty();
    }

    [RootFact]
    public void An_existing_host_link_with_our_name_fails_add_and_is_left_alone()
    {
        var c = _h.Container("c1");
        _h.Host.Netlink.LinkAddVeth("w-010255012002", "intruder");
        var run = _h.Add(c);
        Assert.Equal(CniErrorCode.InterfaceExists, run.ErrorCode);
        Assert.Contains("w-010255012002", run.Stdout);
        Assert.Equal(["intruder", "w-010255012002"], _h.HostLinks());
        Assert.Empty(_h.Store.Allocations);
        Assert.Empty(_h.Records.List());
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
    }

    [RootFact]
    public void A_full_subnet_fails_add_clearly_and_leaks_nothing()
    {
        var store = new IpamStore(_h.Dirs.DataDir);
        using (var s = store.Open())
        {
            for (var i = 0; i < 253; i++)
            {
                s.State.Allocate(Ipv4Subnet.Parse(_h.Subnet), $"other{i}", "eth0");
            }

            s.Commit();
        }

        var before = File.ReadAllBytes(store.PathOf(Ipv4Subnet.Parse(_h.Subnet)));
        var c = _h.Container("c1");
        var run = _h.Add(c);
        Assert.Equal(CniErrorCode.SubnetFull, run.ErrorCode);
        Assert.Contains("no free address", run.Stdout);
        Assert.Equal(before, File.ReadAllBytes(store.PathOf(Ipv4Subnet.Parse(_h.Subnet))));
        Assert.Empty(_h.HostLinks());
        Assert.Empty(_h.Records.List());
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
        Assert.Equal(CniErrorCode.NotAvailable, _h.Run("STATUS", _h.Conf(), null, null, null).ErrorCode);
    }

    [RootFact]
    public void A_hundred_concurrent_adds_get_distinct_addresses_and_a_hundred_dels_empty_the_store()
    {
        const int n = 100;
        var containers = Enumerable.Range(0, n).Select(i => _h.Container($"p{i}")).ToArray();
        var runs = new PluginRun[n];
        RunConcurrently(n, i => runs[i] = _h.Add(containers[i], id: $"p{i}"));
        Assert.All(runs, r => r.Ok());
        var ips = _h.Store.Allocations.Select(a => a.Ip).ToList();
        Assert.Equal(n, ips.Distinct().Count());
        Assert.Equal(n, _h.HostLinks().Count);
        Assert.Equal(n, _h.Records.List().Count);
        foreach (var (c, i) in containers.Select((c, i) => (c, i)))
        {
            var ip = _h.Store.Find($"p{i}", "eth0")!.Ip;
            Assert.Equal(new IpPrefix(new IPAddress(ip.ToBytes()), 32), c.Netlink.AddrList(c.Netlink.LinkByName("eth0").Index, System.Net.Sockets.AddressFamily.InterNetwork).Single().Prefix);
        }

        RunConcurrently(n, i => runs[i] = _h.Del(containers[i], id: $"p{i}"));
        Assert.All(runs, r => r.Ok());
        _h.AssertEmpty();
    }

    private static void RunConcurrently(int n, Action<int> body)
    {
        var threads = Enumerable.Range(0, n).Select(i => new Thread(() => body(i))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
    }

    [RootFact]
    public void Status_version_and_gc()
    {
        _h.Run("STATUS", _h.Conf(), null, null, null).Ok();
        var noLease = System.Text.Encoding.UTF8.GetString(_h.Dirs.Config());
        Assert.Equal(CniErrorCode.NotAvailable, _h.Run("STATUS", noLease, null, null, null).ErrorCode);
        Assert.Equal(CniErrorCode.TryAgainLater, _h.Add(_h.Container("nolease"), conf: noLease).ErrorCode);
        _h.Dirs.WriteLease("10.255.30.0/24", 1350);
        _h.Run("STATUS", noLease, null, null, null).Ok();

        var version = _h.Run("VERSION", """{"cniVersion":"1.1.0"}""", null, null, null).Ok();
        Assert.Equal("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}""", version.Stdout);

        var keep = _h.Container("keep");
        var drop = _h.Container("drop");
        _h.Add(keep, id: "keep").Ok();
        _h.Add(drop, id: "drop").Ok();
        _h.Run("GC", _h.Conf(extra: ""","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"""), null, null, null).Ok();
        Assert.Equal(["keep"], _h.Store.Allocations.Select(a => a.ContainerId));
        Assert.Equal(["keep"], _h.Records.List().Select(r => r.ContainerId));
        Assert.Equal(["w-010255012002"], _h.HostLinks());
        Assert.Null(drop.Netlink.TryLinkByName("eth0"));
        Assert.True(CniHost.Ping(keep, "169.254.0.1"));
    }

    [RootFact]
    public void Bad_input_gets_spec_error_json_a_nonzero_exit_and_creates_nothing()
    {
        var c = _h.Container("c1");
        var netns = CniHost.NetnsPath(c);
        Assert.Equal(CniErrorCode.DecodeFailure, _h.Run("ADD", "{not json", "c1", netns).ErrorCode);
        Assert.Equal(CniErrorCode.DecodeFailure, _h.Run("ADD", "", "c1", netns).ErrorCode);
        Assert.Equal(CniErrorCode.IncompatibleVersion, _h.Run("ADD", _h.Conf("0.2.0"), "c1", netns).ErrorCode);
        Assert.Equal(CniErrorCode.IncompatibleVersion, _h.Run("ADD", _h.Conf("42.0.0"), "c1", netns).ErrorCode);
        Assert.Equal(CniErrorCode.InvalidEnvironment, _h.Run("ADD", _h.Conf(), null, netns).ErrorCode);
        Assert.Equal(CniErrorCode.InvalidEnvironment, _h.Run("ADD", _h.Conf(), "c1", null).ErrorCode);
        Assert.Equal(CniErrorCode.InvalidEnvironment, _h.Run("ADD", _h.Conf(), "c1", netns, ifName: null).ErrorCode);
        Assert.Equal(CniErrorCode.InvalidEnvironment, _h.Run(null!, _h.Conf(), "c1", netns).ErrorCode);
        Assert.Equal(CniErrorCode.InvalidEnvironment, _h.Run("ADD", _h.Conf(), "c1", netns, args: "garbage").ErrorCode);
        Assert.Equal(CniErrorCode.UnknownContainer, _h.Run("ADD", _h.Conf(), "c1", "/run/netns/wefttest-does-not-exist").ErrorCode);
        var plainFile = Path.Combine(_h.Dirs.Root, "not-a-netns");
        File.WriteAllText(plainFile, "");
        Assert.Equal(CniErrorCode.UnknownContainer, _h.Run("ADD", _h.Conf(), "c1", plainFile).ErrorCode);

        // The error JSON speaks the config's version when it is a known one.
        var err = _h.Run("ADD", _h.Conf("0.4.0"), null, netns);
        Assert.Contains("\"cniVersion\":\"0.4.0\"", err.Stdout);

        _h.AssertEmpty();
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
        Assert.False(Directory.Exists(_h.Records.Directory) && Directory.EnumerateFileSystemEntries(_h.Records.Directory).Any());
    }

    [RootFact]
    public void Results_follow_the_configs_version()
    {
        var c = _h.Container("c1");
        var r04 = _h.Add(c, conf: _h.Conf("0.4.0")).Ok().Stdout;
        Assert.Contains("\"cniVersion\":\"0.4.0\"", r04);
        Assert.Contains("\"version\":\"4\"", r04);
        _h.Del(c, conf: _h.Conf("0.4.0")).Ok();
        var r10 = _h.Add(c, conf: _h.Conf("1.0.0")).Ok().Stdout;
        Assert.Contains("\"cniVersion\":\"1.0.0\"", r10);
        Assert.DoesNotContain("\"version\"", r10);
        _h.Del(c, conf: _h.Conf("1.0.0")).Ok();
        _h.AssertEmpty();
    }
}
