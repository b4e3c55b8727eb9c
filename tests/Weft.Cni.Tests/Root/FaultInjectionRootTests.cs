using System.Text;
using Weft.TestSupport;

namespace Weft.Cni.Tests.Root;

/// <summary>
/// The library in-process with the real kernel driver working on a test "host" namespace, and a failure
/// injected before each step of ADD: afterwards no address, link or record may be left.
/// </summary>
public sealed class FaultInjectionRootTests : IDisposable
{
    private readonly CniHost _h = new();

    public void Dispose() => _h.Dispose();

    [RootTheory]
    [InlineData("ipam")]
    [InlineData("link")]
    [InlineData("veth")]
    [InlineData("container")]
    [InlineData("host")]
    [InlineData("record")]
    [InlineData("notify")]
    public void A_failure_midway_through_add_leaves_nothing_behind(string step)
    {
        var c = _h.Container("c1");
        var plugin = new CniPlugin(new LinuxAttachmentDriver(_h.Host.Ns))
        {
            FaultPoint = s =>
            {
                if (s == step)
                {
                    throw new CniException(CniErrorCode.KernelError, $"injected before {s}");
                }
            },
        };
        var request = new CniRequest(CniCommand.Add, "c1", CniHost.NetnsPath(c), "eth0", [], null);
        var e = Assert.Throws<CniException>(() => plugin.Execute(request, Encoding.UTF8.GetBytes(_h.Conf())));
        Assert.Equal($"injected before {step}", e.Message);

        _h.AssertEmpty();
        Assert.Null(c.Netlink.TryLinkByName("eth0"));
        Assert.Empty(Directory.Exists(_h.Records.Directory) ? Directory.GetFiles(_h.Records.Directory) : []);

        // And the same ADD then succeeds from a clean slate.
        plugin.FaultPoint = null;
        Assert.Contains("10.255.12.", Encoding.UTF8.GetString(plugin.Execute(request, Encoding.UTF8.GetBytes(_h.Conf()))));
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
    }

    [RootFact]
    public void Add_succeeds_when_the_leftover_in_its_way_vanishes_before_it_is_looked_at()
    {
        // DEL's background child deletes the old pair at any moment: here right after the kernel refused the new
        // veth because the container's old eth0 was still there, and before ADD looks at what is in the way.
        var c = _h.Container("c1");
        var old = Ipv4.Parse("10.255.12.77");
        _h.Host.Netlink.LinkAddVeth(Naming.HostVeth(old), "eth0", c.Ns,
            mac: new System.Net.NetworkInformation.PhysicalAddress(Naming.HostMac(old)),
            peerMac: new System.Net.NetworkInformation.PhysicalAddress(Naming.ContainerMac(old)));
        var reaped = 0;
        var plugin = new CniPlugin(new LinuxAttachmentDriver(_h.Host.Ns)
        {
            BeforeLeftoverCheck = () =>
            {
                if (reaped++ == 0)
                {
                    _h.Host.Netlink.LinkDel(Naming.HostVeth(old));
                }
            },
        });
        var request = new CniRequest(CniCommand.Add, "c1", CniHost.NetnsPath(c), "eth0", [], null);

        Assert.Contains("10.255.12.2", Encoding.UTF8.GetString(plugin.Execute(request, Encoding.UTF8.GetBytes(_h.Conf()))));
        Assert.Equal(1, reaped);
        Assert.True(CniHost.Ping(c, "169.254.0.1"));
    }
}
