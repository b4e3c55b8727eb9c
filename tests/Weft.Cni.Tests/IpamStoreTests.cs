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
        Assert.Equal(ip, new IpamStore(dirs.DataDir).Open().State.Find("a", "eth0")!.Ip);
        Assert.False(File.Exists(store.FilePath + ".tmp"));
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
    public void A_corrupt_store_is_an_io_error()
    {
        using var dirs = new TestDirs();
        var store = new IpamStore(dirs.DataDir);
        Directory.CreateDirectory(store.Directory);
        File.WriteAllText(store.FilePath, "garbage\n");
        Assert.Equal(CniErrorCode.IoFailure, Assert.Throws<CniException>(() => store.Open()).Code);
    }
}
