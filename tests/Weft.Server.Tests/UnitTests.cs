using Weft.Common;
using Weft.Contracts;
using Weft.Server.Http;
using Weft.Server.Leases;
using Weft.Server.Storage;

namespace Weft.Server.Tests;

public sealed class LeasePoolTests
{
    [Fact]
    public void Default_pool_has_255_blocks_and_never_the_first()
    {
        var pool = new LeasePool("10.255.0.0/16", 24);
        Assert.Equal(255, pool.BlockCount);
        Assert.Equal("10.255.1.0/24", pool.Block(0));
        Assert.Equal("10.255.255.0/24", pool.Block(254));
        Assert.Equal(255, pool.SingleCount);
        Assert.Equal("10.255.0.1/32", pool.Single(0));
        Assert.Equal("10.255.0.255/32", pool.Single(254));
        Assert.False(pool.Contains("10.255.0.0/24"));
        Assert.True(pool.Contains("10.255.7.0/24"));
        Assert.True(pool.Contains("10.255.0.9/32"));
        Assert.False(pool.Contains("10.254.7.0/24"));
        Assert.False(pool.Contains("10.255.7.0/25"));
        Assert.False(pool.Contains("10.255.7.1/24"));
    }

    [Fact]
    public void Picks_every_free_block_exactly_once_then_none()
    {
        var pool = new LeasePool("10.255.0.0/20", 24);
        var taken = new HashSet<string>();
        var rnd = new Random(7);
        for (var i = 0; i < pool.BlockCount; i++) Assert.True(taken.Add(pool.PickFree(false, taken, rnd)!));
        Assert.Null(pool.PickFree(false, taken, rnd));
        Assert.Equal(15, taken.Count);
    }

    [Theory]
    [InlineData("10.255.12.0/24", "ee:ee:0a:ff:0c:00")]
    [InlineData("10.255.0.5/32", "ee:ee:0a:ff:00:05")]
    [InlineData("192.168.255.0/24", "ee:ee:c0:a8:ff:00")]
    public void Vtep_mac_is_ee_ee_plus_subnet_bytes(string subnet, string mac) => Assert.Equal(mac, LeasePool.HardwareAddr(subnet));

    [Theory]
    [InlineData("10.255.0.0/16", 16)]
    [InlineData("10.255.0.0/16", 31)]
    [InlineData("not-a-cidr", 24)]
    public void Bad_pool_settings_are_refused(string network, int prefix) =>
        Assert.Throws<ArgumentException>(() => new LeasePool(network, prefix));

    [Fact]
    public void Renew_validation_names_the_bad_field()
    {
        Assert.Null(LeasePool.Validate(new Lease { UnderlayIp = "10.0.0.1", OverlaySubnet = "10.255.3.0/24", OverlayHardwareAddr = "ee:ee:0a:ff:03:00" }));
        Assert.StartsWith("invalid underlay ip", LeasePool.Validate(new Lease { UnderlayIp = "::1", OverlaySubnet = "10.255.3.0/24", OverlayHardwareAddr = "ee:ee:0a:ff:03:00" }));
        Assert.StartsWith("invalid overlay subnet", LeasePool.Validate(new Lease { UnderlayIp = "10.0.0.1", OverlaySubnet = "10.255.3.0", OverlayHardwareAddr = "ee:ee:0a:ff:03:00" }));
        Assert.StartsWith("invalid overlay hardware", LeasePool.Validate(new Lease { UnderlayIp = "10.0.0.1", OverlaySubnet = "10.255.3.0/24", OverlayHardwareAddr = "zz" }));
    }
}

public sealed class RevisionTests
{
    [Fact]
    public void Changed_kinds_are_those_after_since()
    {
        var r = new Revisions(10, Policies: 7, Leases: 10, Registry: 3, PoliciesLastUpdated: 0);
        Assert.Equal(["policies", "leases"], r.ChangedSince(5, WatchKinds.All));
        Assert.Equal(["leases"], r.ChangedSince(7, WatchKinds.All));
        Assert.Empty(r.ChangedSince(10, WatchKinds.All));
        Assert.Empty(r.ChangedSince(7, ["policies", "registry"]));
        Assert.Equal(WatchKinds.All, r.ChangedSince(11, WatchKinds.All));
        Assert.True(Revisions.TryDecode(r.Encode(), out var back));
        Assert.Equal(r, back);
    }

    [Fact]
    public async Task Notifier_wakes_waiters_and_ignores_old_revisions()
    {
        var n = new ChangeNotifier();
        n.Publish(new Revisions(5, 5, 0, 0, 0));
        var wait = n.WaitAsync(5, WatchKinds.All, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.False(wait.IsCompleted);
        Assert.False(n.Publish(new Revisions(4, 4, 4, 0, 0)));
        Assert.False(wait.IsCompleted);
        n.Publish(new Revisions(6, 5, 6, 0, 0));
        var (revs, changed) = await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(6, revs.Revision);
        Assert.Equal(["leases"], changed);
        Assert.Equal(0, n.Waiters);
    }
}

public sealed class MetricsTests
{
    [Fact]
    public void Renders_prometheus_text()
    {
        var m = new MetricsRegistry();
        var c = m.CreateCounter("reqs_total", "Requests.", "route", "code");
        c.Inc("A", "200");
        c.Inc("A", "200");
        c.Inc("B\"x", "500");
        var h = m.CreateHistogram("lat_seconds", "Latency.", [0.1, 1], "route");
        h.Observe(0.05, "A");
        h.Observe(0.5, "A");
        h.Observe(5, "A");
        m.CreateGaugeCallback("up", "Up.", () => 1);
        Assert.Equal("""
            # HELP reqs_total Requests.
            # TYPE reqs_total counter
            reqs_total{route="A",code="200"} 2
            reqs_total{route="B\"x",code="500"} 1
            # HELP lat_seconds Latency.
            # TYPE lat_seconds histogram
            lat_seconds_bucket{route="A",le="0.1"} 1
            lat_seconds_bucket{route="A",le="1"} 2
            lat_seconds_bucket{route="A",le="+Inf"} 3
            lat_seconds_sum{route="A"} 5.55
            lat_seconds_count{route="A"} 3
            # HELP up Up.
            # TYPE up gauge
            up 1

            """.Replace("\r", ""), m.Render());
        Assert.Throws<InvalidOperationException>(() => m.CreateCounter("up", "again"));
        Assert.Throws<ArgumentException>(() => c.Inc("only-one"));
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(1500, "1.5s")]
    [InlineData(250, "250ms")]
    [InlineData(3_723_500, "1h2m3.5s")]
    [InlineData(120_000, "2m0s")]
    public void Uptime_uses_go_duration_format(long ms, string expected) =>
        Assert.Equal(expected, HttpUtil.GoDuration(TimeSpan.FromMilliseconds(ms)));
}
