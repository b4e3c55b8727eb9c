using System.Net;
using Weft.Agent.Overlay;

namespace Weft.Agent.Tests.Overlay;

public class OverlayPlannerTests
{
    private static readonly IPNetwork Net = IPNetwork.Parse("10.255.0.0/16");

    internal static Lease L(string underlay, string subnet, string mac = "") => new(IPAddress.Parse(underlay), IPNetwork.Parse(subnet), mac);

    [Fact]
    public void Every_remote_lease_gets_a_route_a_neighbour_and_an_fdb_entry()
    {
        var own = L("198.18.0.11", "10.255.12.0/24");
        var d = OverlayPlanner.Compute(own, [own, L("198.18.0.12", "10.255.13.0/24"), L("198.18.0.13", "10.255.200.0/24", "EE:EE:0A:FF:C8:00")], Net);

        Assert.Equal(new HashSet<OverlayRoute>
        {
            new(IPNetwork.Parse("10.255.13.0/24"), IPAddress.Parse("10.255.13.0")),
            new(IPNetwork.Parse("10.255.200.0/24"), IPAddress.Parse("10.255.200.0")),
        }, d.Routes);
        Assert.Equal(new HashSet<OverlayNeighbour>
        {
            new(IPAddress.Parse("10.255.13.0"), "ee:ee:0a:ff:0d:00"),
            new(IPAddress.Parse("10.255.200.0"), "ee:ee:0a:ff:c8:00"),
        }, d.Neighbours);
        Assert.Equal(new HashSet<FdbEntry>
        {
            new("ee:ee:0a:ff:0d:00", IPAddress.Parse("198.18.0.12")),
            new("ee:ee:0a:ff:c8:00", IPAddress.Parse("198.18.0.13")),
        }, d.Fdb);
    }

    [Fact]
    public void Leases_outside_the_overlay_are_counted_and_skipped()
    {
        var stats = new OverlayPlanStats();
        var own = L("198.18.0.11", "10.255.12.0/24");
        var d = OverlayPlanner.Compute(own, [L("198.18.0.12", "10.9.13.0/24"), L("198.18.0.13", "10.0.0.0/8")], Net, stats);
        Assert.Empty(d.Routes);
        Assert.Equal(2, stats.NonRoutableLeases);
    }

    [Fact]
    public void Silk_mac_is_ee_ee_and_the_base_ip() => Assert.Equal("ee:ee:0a:ff:0c:00", Lease.MacFor(IPAddress.Parse("10.255.12.0")));
}

public class OverlayReconcilerTests
{
    private static readonly IPNetwork Net = IPNetwork.Parse("10.255.0.0/16");
    private static readonly Lease Own = OverlayPlannerTests.L("198.18.0.11", "10.255.12.0/24");
    private static readonly Lease B = OverlayPlannerTests.L("198.18.0.12", "10.255.13.0/24");
    private static readonly Lease C = OverlayPlannerTests.L("198.18.0.13", "10.255.14.0/24");

    [Fact]
    public void Converges_from_empty_then_touches_nothing()
    {
        var k = new FakeOverlayKernel();
        var desired = OverlayPlanner.Compute(Own, [Own, B, C], Net);
        var r1 = OverlayReconciler.Reconcile(k, desired);
        Assert.True(r1.Ok);
        Assert.Equal(6, r1.Added);
        k.Log.Clear();

        var r2 = OverlayReconciler.Reconcile(k, desired);
        Assert.Equal((0, 0, 6), (r2.Added, r2.Removed, r2.Unchanged));
        Assert.Empty(k.Log);
    }

    [Fact]
    public void Stale_and_wrong_entries_are_replaced_correct_ones_untouched()
    {
        var k = new FakeOverlayKernel();
        OverlayReconciler.Reconcile(k, OverlayPlanner.Compute(Own, [B, C], Net));
        // C moved to another underlay IP; a lease D that expired left its entries behind.
        k.Fdb.Add(new FdbEntry("ee:ee:0a:ff:63:00", IPAddress.Parse("198.18.0.99")));
        k.Routes.Add(new OverlayRoute(IPNetwork.Parse("10.255.99.0/24"), IPAddress.Parse("10.255.99.0")));
        k.Log.Clear();

        var cMoved = C with { UnderlayIp = IPAddress.Parse("198.18.0.23") };
        var r = OverlayReconciler.Reconcile(k, OverlayPlanner.Compute(Own, [B, cMoved], Net));

        Assert.True(r.Ok);
        Assert.Equal(["route-delete 10.255.99.0/24", "fdb-delete ee:ee:0a:ff:0e:00", "fdb-delete ee:ee:0a:ff:63:00", "fdb-replace ee:ee:0a:ff:0e:00"], k.Log);
        Assert.Contains(new FdbEntry("ee:ee:0a:ff:0e:00", IPAddress.Parse("198.18.0.23")), k.Fdb);
        Assert.DoesNotContain(k.Log, op => op.Contains("0d:00") || op.Contains("10.255.13."));
    }

    [Fact]
    public void A_failing_operation_does_not_stop_the_pass_and_the_next_pass_repairs_it()
    {
        var k = new FakeOverlayKernel();
        k.Fail.Add("neigh-replace 10.255.13.0");
        var desired = OverlayPlanner.Compute(Own, [B, C], Net);

        var r1 = OverlayReconciler.Reconcile(k, desired);
        Assert.False(r1.Ok);
        Assert.Equal(5, r1.Added);
        Assert.Single(r1.Errors);

        k.Fail.Clear();
        var r2 = OverlayReconciler.Reconcile(k, desired);
        Assert.True(r2.Ok);
        Assert.Equal(1, r2.Added);
        Assert.Equal(desired.Neighbours, k.Neighbours);
    }

    [Fact]
    public void A_failed_read_changes_nothing()
    {
        var k = new FakeOverlayKernel { FailList = true };
        var r = OverlayReconciler.Reconcile(k, OverlayPlanner.Compute(Own, [B], Net));
        Assert.False(r.Ok);
        Assert.Empty(k.Log);
    }
}
