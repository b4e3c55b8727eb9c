namespace Weft.Cni.Tests;

public class IpamStoreTests
{
    private static readonly Ipv4Subnet Subnet = Ipv4Subnet.Parse("10.255.12.0/24");

    [Fact]
    public void Allocations_persist_across_sessions()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        Ipv4 ip;
        using (var s = store.Open())
        {
            ip = s.State.Allocate(Subnet, "a", "eth0");
            s.Commit();
        }

        Assert.Equal(ip, new IpamStore(dirs.DataDir).Read().Find("a", "eth0")!.Ip);
        using var again = new IpamStore(dirs.DataDir).Open();
        Assert.Equal(ip, again.State.Find("a", "eth0")!.Ip);
        Assert.Equal(ip, again.State.Last);
    }

    [Fact]
    public void A_durable_store_writes_the_same_slots()
    {
        using var dirs = new TestDirs();
        using (var s = new IpamStore(dirs.DataDir, durable: true).Open())
        {
            s.State.Allocate(Subnet, "a", "eth0");
            s.Commit();
        }

        Assert.Equal("10.255.12.2", new IpamStore(dirs.DataDir).Read().Find("a", "eth0")!.Ip.ToString());
    }

    [Fact]
    public void Uncommitted_changes_are_not_written()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        using (var s = store.Open())
        {
            s.State.Allocate(Subnet, "a", "eth0");
        }

        Assert.Empty(store.Read().Allocations);
    }

    [Fact]
    public void Concurrent_sessions_on_separate_descriptors_never_hand_out_an_address_twice()
    {
        using var dirs = new TestDirs();
        var ips = new System.Collections.Concurrent.ConcurrentBag<Ipv4>();
        Parallel.For(0, 100, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            using var s = new IpamStore(dirs.DataDir).Open();
            ips.Add(s.State.Allocate(Subnet, $"c{i}", "eth0"));
            s.Commit();
        });

        Assert.Equal(100, ips.Distinct().Count());
        Assert.Equal(100, new IpamStore(dirs.DataDir).Read().Allocations.Count);
    }

    [Fact]
    public void The_slot_file_has_the_documented_layout()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        using (var s = store.Open())
        {
            s.State.Allocate(Subnet, "c0ffee", "eth0");
            s.State.Allocate(Subnet, "beef", "eth1");
            s.Commit();
            s.State.Release("c0ffee", "eth0");
            s.Commit();
        }

        var path = Path.Combine(dirs.DataDir, "ipam", "10.255.12.0-24.slots");
        var bytes = File.ReadAllBytes(path);
        string Slot(int n) => System.Text.Encoding.UTF8.GetString(bytes, n * 256, 256).TrimEnd('\0');
        Assert.Equal("weft-ipam 2 10.255.12.0/24 last=3\n", Slot(0));
        Assert.Equal("", Slot(2));
        Assert.Equal("beef eth1\n", Slot(3));
        Assert.Equal(4 * 256, bytes.Length);
        Assert.Equal([new Allocation(Ipv4.Parse("10.255.12.3"), "beef", "eth1")], store.Read().Allocations);
    }

    [Fact]
    public void Allocations_in_an_old_subnet_are_kept_in_their_own_file()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        using (var s = store.Open())
        {
            s.State.Allocate(Ipv4Subnet.Parse("10.255.7.0/24"), "old", "eth0");
            s.State.Allocate(Subnet, "new", "eth0");
            s.Commit();
        }

        Assert.Equal(2, Directory.GetFiles(store.Directory, "*.slots").Length);
        Assert.Equal(["10.255.12.2", "10.255.7.2"], store.Read().Allocations.Select(a => a.Ip.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_corrupt_store_is_an_io_error()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        Directory.CreateDirectory(store.Directory);
        File.WriteAllText(store.PathOf(Subnet), "garbage\n");
        Assert.Equal(CniErrorCode.IoFailure, Assert.Throws<CniException>(() => store.Open()).Code);
    }
}
