using System.Text.Json;
using Weft.TestSupport;

namespace Weft.Linux.Tests;

/// <summary>Bridges, masters, TUN devices and sysctls inside throwaway namespaces.</summary>
public class DeviceRootTests
{
    private static JsonElement Json(string stdout) => JsonDocument.Parse(stdout).RootElement;

    [RootFact]
    public void Bridge_with_enslaved_veth_reads_back()
    {
        using var a = TestNetns.Create("br");
        var nl = a.Netlink;
        nl.LinkAddBridge("weft-br0", mtu: 1400);
        nl.LinkAddVeth("wt-port", "wt-peer", mtu: 1400);
        var br = nl.LinkByName("weft-br0");
        Assert.Equal(("bridge", 1400), (br.Kind, br.Mtu));
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => nl.LinkAddBridge("weft-br0")).Errno);

        nl.LinkSetMaster("wt-port", "weft-br0");
        nl.LinkSetUp("weft-br0");
        nl.LinkSetUp("wt-port");
        Assert.Equal(br.Index, nl.LinkByName("wt-port").MasterIndex);
        var j = Json(a.Ip("-j link show master weft-br0"));
        Assert.Equal(["wt-port"], j.EnumerateArray().Select(e => e.GetProperty("ifname").GetString()));

        nl.LinkSetNoMaster("wt-port");
        Assert.Null(nl.LinkByName("wt-port").MasterIndex);
        Assert.Empty(Json(a.Ip("-j link show master weft-br0")).EnumerateArray());
        nl.LinkDel("weft-br0");
        Assert.Null(nl.TryLinkByName("weft-br0"));
    }

    [RootFact]
    public void Tun_device_is_created_inside_the_namespace_and_persists()
    {
        using var a = TestNetns.Create("tun");
        var nl = a.Netlink;
        nl.LinkAddTun("weft-tun0");
        var l = nl.LinkByName("weft-tun0");
        Assert.Equal("tun", l.Kind);
        Assert.Equal(Ifla.ARPHRD_NONE, l.DeviceType);
        var j = Json(a.Ip("-j -d link show dev weft-tun0"))[0].GetProperty("linkinfo").GetProperty("info_data");
        Assert.Equal("tun", j.GetProperty("type").GetString());
        Assert.True(j.GetProperty("persist").GetBoolean());
        Assert.Equal(Errno.EEXIST, Assert.Throws<NetlinkException>(() => nl.LinkAddTun("weft-tun0")).Errno);
        // Not in the machine's own namespace.
        Assert.DoesNotContain("weft-tun0", Cmd.Run("ip", "-o", "link", "show"));
        nl.LinkDel("weft-tun0");
        Assert.Null(nl.TryLinkByName("weft-tun0"));
    }

    [RootFact]
    public void Sysctl_writes_only_the_namespace_value()
    {
        using var a = TestNetns.Create("sysctl");
        string root = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        string flipped = root == "1" ? "0" : "1";

        Sysctl.Write(a.Ns, "net/ipv4/ip_forward", flipped);
        Assert.Equal(flipped, Sysctl.Read(a.Ns, "net.ipv4.ip_forward"));
        Assert.Equal(flipped, a.Exec("sysctl", "-n", "net.ipv4.ip_forward").Trim());
        Assert.Equal(root, File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());

        Sysctl.Write(a.Ns, "net.ipv4.conf.all.rp_filter", "2");
        Assert.Equal("2", a.Exec("sysctl", "-n", "net.ipv4.conf.all.rp_filter").Trim());
        Assert.Equal(Errno.ENOENT, Assert.Throws<KernelException>(() => Sysctl.Read(a.Ns, "net/ipv4/no_such_key")).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KernelException>(() => Sysctl.Write(a.Ns, "net/ipv4/ip_forward", "not-a-number")).Errno);
        Assert.Equal(flipped, Sysctl.Read(a.Ns, "net/ipv4/ip_forward"));
    }
}
