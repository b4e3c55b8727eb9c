namespace Weft.Cni.Tests;

public class IpamStateTests
{
    private static readonly Ipv4Subnet Subnet = Ipv4Subnet.Parse("10.255.12.0/24");

    [Fact]
    public void First_address_is_dot_2_and_allocation_is_round_robin()
    {
        var s = new IpamState();
        Assert.Equal("10.255.12.2", s.Allocate(Subnet, "a", "eth0").ToString());
        Assert.Equal("10.255.12.3", s.Allocate(Subnet, "b", "eth0").ToString());
        s.Release("a", "eth0");
        // .2 is free again but round-robin continues after the last one handed out.
        Assert.Equal("10.255.12.4", s.Allocate(Subnet, "c", "eth0").ToString());
    }

    [Fact]
    public void Same_attachment_gets_the_same_address_and_another_interface_a_new_one()
    {
        var s = new IpamState();
        var ip = s.Allocate(Subnet, "a", "eth0");
        Assert.Equal(ip, s.Allocate(Subnet, "a", "eth0"));
        Assert.NotEqual(ip, s.Allocate(Subnet, "a", "eth1"));
        Assert.Equal(2, s.Allocations.Count);
    }

    [Fact]
    public void Wraps_around_and_skips_taken_addresses()
    {
        var s = new IpamState([new Allocation(Ipv4.Parse("10.255.12.2"), "x", "eth0")], Ipv4.Parse("10.255.12.254"));
        Assert.Equal("10.255.12.3", s.Allocate(Subnet, "a", "eth0").ToString());
    }

    [Fact]
    public void A_full_subnet_is_code_101_and_changes_nothing()
    {
        var s = new IpamState();
        var ips = new HashSet<Ipv4>();
        for (var i = 0; i < 253; i++)
        {
            ips.Add(s.Allocate(Subnet, $"c{i}", "eth0"));
        }

        Assert.Equal(253, ips.Count);
        Assert.All(ips, ip => Assert.InRange(ip.Value & 0xFF, 2u, 254u));
        Assert.Equal(0, s.Free(Subnet));
        var e = Assert.Throws<CniException>(() => s.Allocate(Subnet, "one-more", "eth0"));
        Assert.Equal(CniErrorCode.SubnetFull, e.Code);
        Assert.Equal(253, s.Allocations.Count);
    }

    [Fact]
    public void An_address_from_an_old_subnet_is_replaced()
    {
        var s = new IpamState([new Allocation(Ipv4.Parse("10.255.9.7"), "a", "eth0")]);
        Assert.Equal("10.255.12.2", s.Allocate(Subnet, "a", "eth0").ToString());
        Assert.Single(s.Allocations);
    }

    [Theory]
    [InlineData("10.255.12.2", "w-010255012002")]
    [InlineData("1.2.3.4", "w-001002003004")]
    public void Host_veth_is_named_from_the_ip(string ip, string name) => Assert.Equal(name, Naming.HostVeth(Ipv4.Parse(ip)));

    [Fact]
    public void Macs_carry_the_ip()
    {
        var ip = Ipv4.Parse("10.255.12.2");
        Assert.Equal("ee:ee:0a:ff:0c:02", Naming.FormatMac(Naming.ContainerMac(ip)));
        Assert.Equal("aa:aa:0a:ff:0c:02", Naming.FormatMac(Naming.HostMac(ip)));
    }
}
