using System.Net;
using System.Text.Json;
using Weft.Contracts;
using static Weft.Server.Tests.TestServer;

namespace Weft.Server.Tests;

/// <summary>The internal API (mTLS): CF internal policies, Silk leases, registry, watch, snapshot; on every engine.</summary>
public abstract class InternalApiTests : IAsyncLifetime
{
    protected TestServer S = null!;
    protected abstract Task<string?> DatabaseAsync();

    public async Task InitializeAsync() => S = await StartAsync(await DatabaseAsync());
    public async Task DisposeAsync() => await S.DisposeAsync();

    private static Lease ParseLease(string body) => JsonSerializer.Deserialize(body, WeftJsonContext.Default.Lease)!;

    private async Task<Lease> AcquireAsync(string underlay, bool single = false, TestServer? server = null)
    {
        var s = server ?? S;
        var (status, body) = await s.Int(HttpMethod.Put, "/weft/v1/leases/acquire", $$"""{"underlay_ip":"{{underlay}}","single_overlay_ip":{{(single ? "true" : "false")}}}""");
        Assert.True(status == 200, body);
        return ParseLease(body);
    }

    [Fact]
    public async Task Internal_policies_carry_tags_and_last_updated_moves()
    {
        var (status, before) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies_last_updated");
        Assert.Equal(200, status);
        await S.CreateAsync(Policy("4a2d3627", "eb95ff20", 8080, 8090));
        var (_, after) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies_last_updated");
        Assert.True(long.Parse(after) > long.Parse(before));
        Assert.True(long.Parse(after) > DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() * 1_000_000);

        var (s2, body) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies");
        Assert.Equal(200, s2);
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"4a2d3627","tag":"0001"},"destination":{"id":"eb95ff20","tag":"0002","protocol":"tcp","ports":{"start":8080,"end":8090}}}]}""", body);
        (_, body) = await S.Int(HttpMethod.Get, "/networking/v0/internal/policies?id=nobody,eb95ff20");
        Assert.Equal(1, Json(body).GetProperty("total_policies").GetInt32());
        (_, body) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=nobody");
        Assert.Equal("""{"total_policies":0,"policies":[]}""", body);
    }

    [Fact]
    public async Task Router_tags_are_get_or_create()
    {
        await S.CreateAsync(Policy("a", "b"));
        var (status, body) = await S.Int(HttpMethod.Put, "/networking/v1/internal/tags", """{"id":"INGRESS_ROUTER","type":"router"}""");
        Assert.Equal((200, """{"id":"INGRESS_ROUTER","tag":"0003","type":"router"}"""), (status, body));
        (_, body) = await S.Int(HttpMethod.Put, "/networking/v1/internal/tags", """{"id":"INGRESS_ROUTER","type":"router"}""");
        Assert.Equal("""{"id":"INGRESS_ROUTER","tag":"0003","type":"router"}""", body);
        (status, _) = await S.Int(HttpMethod.Put, "/networking/v1/internal/tags", """{"id":"","type":"router"}""");
        Assert.Equal(400, status);
    }

    [Fact]
    public async Task A_router_tag_is_not_freed_when_its_last_policy_goes()
    {
        var (_, body) = await S.Int(HttpMethod.Put, "/networking/v1/internal/tags", """{"id":"INGRESS_ROUTER","type":"router"}""");
        Assert.Equal("""{"id":"INGRESS_ROUTER","tag":"0001","type":"router"}""", body);
        await S.CreateAsync(Policy("INGRESS_ROUTER", "b"));
        var (status, deleted) = await S.Ext(HttpMethod.Post, "/networking/v1/external/policies/delete", Batch(Policy("INGRESS_ROUTER", "b")));
        Assert.True(status == 200, deleted);

        // The app tag of "b" is free again; the router keeps 0001, so a new app cannot get it.
        await S.CreateAsync(Policy("c", "d"));
        (_, body) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=c");
        Assert.DoesNotContain("\"0001\"", body);
        (_, body) = await S.Int(HttpMethod.Put, "/networking/v1/internal/tags", """{"id":"INGRESS_ROUTER","type":"router"}""");
        Assert.Equal("""{"id":"INGRESS_ROUTER","tag":"0001","type":"router"}""", body);
    }

    [Fact]
    public async Task Leases_follow_Silk_semantics()
    {
        var a = await AcquireAsync("198.18.0.11");
        Assert.Matches(@"^10\.255\.([0-9]+)\.0/24$", a.OverlaySubnet);
        Assert.NotEqual("10.255.0.0/24", a.OverlaySubnet); // never the first block
        var third = int.Parse(a.OverlaySubnet.Split('.')[2]);
        Assert.Equal($"ee:ee:0a:ff:{third:x2}:00", a.OverlayHardwareAddr);
        Assert.Equal("198.18.0.11", a.UnderlayIp);

        // Acquiring again returns the same lease.
        var again = await AcquireAsync("198.18.0.11");
        Assert.Equal(a.OverlaySubnet, again.OverlaySubnet);

        // Single IPs come from the first block.
        var single = await AcquireAsync("198.18.0.99", single: true);
        Assert.Matches(@"^10\.255\.0\.([0-9]+)/32$", single.OverlaySubnet);
        Assert.NotEqual("10.255.0.0/32", single.OverlaySubnet);

        var (status, body) = await S.Int(HttpMethod.Get, "/weft/v1/leases");
        Assert.Equal(200, status);
        var leases = JsonSerializer.Deserialize(body, WeftJsonContext.Default.LeasesResponse)!.Leases;
        Assert.Equal(2, leases.Count);
        (_, var silk) = await S.Int(HttpMethod.Get, "/leases");
        Assert.Equal(body, silk);

        // Renew: ok for the stored lease, 409 for a different one, re-adopt when missing.
        var renew = JsonSerializer.Serialize(a, WeftJsonContext.Default.Lease);
        (status, body) = await S.Int(HttpMethod.Put, "/weft/v1/leases/renew", renew);
        Assert.Equal((200, "{}"), (status, body));
        // Subnets are picked at random, so the mismatching one is chosen to differ from a's.
        var otherThird = third == 200 ? 202 : 200;
        var other = new Lease { UnderlayIp = a.UnderlayIp, OverlaySubnet = $"10.255.{otherThird}.0/24", OverlayHardwareAddr = $"ee:ee:0a:ff:{otherThird:x2}:00" };
        (status, body) = await S.Int(HttpMethod.Put, "/leases/renew", JsonSerializer.Serialize(other, WeftJsonContext.Default.Lease));
        Assert.Equal((409, """{"error":"renew-subnet-lease: lease mismatch"}"""), (status, body));
        (status, body) = await S.Int(HttpMethod.Put, "/weft/v1/leases/renew", """{"underlay_ip":"nope","overlay_subnet":"10.255.3.0/24","overlay_hardware_addr":"ee:ee:0a:ff:03:00"}""");
        Assert.Equal(409, status);
        var adoptedThird = third == 201 ? 203 : 201;
        var adopted = new Lease { UnderlayIp = "198.18.0.50", OverlaySubnet = $"10.255.{adoptedThird}.0/24", OverlayHardwareAddr = $"ee:ee:0a:ff:{adoptedThird:x2}:00" };
        (status, _) = await S.Int(HttpMethod.Put, "/weft/v1/leases/renew", JsonSerializer.Serialize(adopted, WeftJsonContext.Default.Lease));
        Assert.Equal(200, status);
        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/leases");
        Assert.Contains($"10.255.{adoptedThird}.0/24", body);

        // Release is idempotent.
        (status, body) = await S.Int(HttpMethod.Put, "/weft/v1/leases/release", """{"underlay_ip":"198.18.0.11"}""");
        Assert.Equal((200, "{}"), (status, body));
        (status, _) = await S.Int(HttpMethod.Put, "/leases/release", """{"underlay_ip":"198.18.0.11"}""");
        Assert.Equal(200, status);
        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/leases");
        Assert.DoesNotContain(a.OverlaySubnet, body);

        (status, _) = await S.Int(HttpMethod.Put, "/weft/v1/leases/acquire", """{"underlay_ip":"not-an-ip"}""");
        Assert.Equal(400, status);
    }

    [Fact]
    public async Task Expired_leases_are_hidden_and_reclaimed_only_when_the_pool_is_exhausted()
    {
        // 10.255.0.0/22 in /24s: three blocks for cells.
        await using var small = await StartAsync(await DatabaseAsync(), o => o with { OverlayNetwork = "10.255.0.0/22", LeaseExpirationHours = 1 });
        var leases = new List<Lease>();
        for (var i = 1; i <= 3; i++) leases.Add(await AcquireAsync($"198.18.1.{i}", server: small));
        Assert.Equal(3, leases.Select(l => l.OverlaySubnet).Distinct().Count());
        var (status, body) = await small.Int(HttpMethod.Put, "/weft/v1/leases/acquire", """{"underlay_ip":"198.18.1.4"}""");
        Assert.Equal((409, """{"error":"no lease available"}"""), (status, body));

        small.Time.Advance(TimeSpan.FromMinutes(30));
        await small.Int(HttpMethod.Put, "/weft/v1/leases/renew", JsonSerializer.Serialize(leases[1], WeftJsonContext.Default.Lease));
        await small.Int(HttpMethod.Put, "/weft/v1/leases/renew", JsonSerializer.Serialize(leases[2], WeftJsonContext.Default.Lease));
        small.Time.Advance(TimeSpan.FromMinutes(45));
        // Lease 0 expired: hidden from the list, still stored.
        (_, body) = await small.Int(HttpMethod.Get, "/weft/v1/leases");
        var listed = JsonSerializer.Deserialize(body, WeftJsonContext.Default.LeasesResponse)!.Leases;
        Assert.Equal(new[] { leases[1].OverlaySubnet, leases[2].OverlaySubnet }.Order(), listed.Select(l => l.OverlaySubnet).Order());
        // The pool is exhausted, so the oldest expired lease is reclaimed for the newcomer.
        var newcomer = await AcquireAsync("198.18.1.4", server: small);
        Assert.Equal(leases[0].OverlaySubnet, newcomer.OverlaySubnet);
        // The old holder cannot renew it back: the subnet now belongs to the newcomer.
        (status, _) = await small.Int(HttpMethod.Put, "/weft/v1/leases/renew", JsonSerializer.Serialize(leases[0], WeftJsonContext.Default.Lease));
        Assert.Equal(409, status);
    }

    [Fact]
    public async Task Fifty_parallel_acquires_get_fifty_distinct_subnets()
    {
        var results = await Task.WhenAll(Enumerable.Range(1, 50).Select(i => AcquireAsync($"198.18.2.{i}")));
        Assert.Equal(50, results.Select(l => l.OverlaySubnet).Distinct().Count());
        Assert.Equal(50, results.Select(l => l.OverlayHardwareAddr).Distinct().Count());
        Assert.All(results, l => Assert.NotEqual("10.255.0.0/24", l.OverlaySubnet));
        var (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/leases");
        Assert.Equal(50, JsonSerializer.Deserialize(body, WeftJsonContext.Default.LeasesResponse)!.Leases.Count);
    }

    private static string Cell(string underlay, params (string Id, string App, string? Name, int Index, string Ip)[] containers) =>
        JsonSerializer.Serialize(new CellRegistrationRequest
        {
            UnderlayIp = underlay,
            Containers = containers.Select(c => new ContainerRecord
            {
                ContainerId = c.Id, AppId = c.App, AppName = c.Name, SpaceId = "space-1", InstanceIndex = c.Index, Ip = c.Ip, Ports = [8080],
            }).ToList(),
        }, WeftJsonContext.Default.CellRegistrationRequest);

    [Fact]
    public async Task Registry_answers_which_ips_belong_to_which_app()
    {
        await S.CreateAsync(Policy("app-b", "app-a"));
        var (status, body) = await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1",
            Cell("198.18.0.11", ("c1", "app-a", "frontend", 0, "10.255.12.2"), ("c2", "app-a", "frontend", 1, "10.255.12.3")));
        Assert.Equal(200, status);
        var rev1 = Json(body).GetProperty("revision").GetInt64();
        (status, _) = await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-2",
            Cell("198.18.0.12", ("c3", "app-b", "backend", 0, "10.255.13.2"), ("c4", "app-c", null, 0, "10.255.13.3")));
        Assert.Equal(200, status);

        (status, body) = await S.Int(HttpMethod.Get, "/weft/v1/ips");
        Assert.Equal(200, status);
        var ips = JsonSerializer.Deserialize(body, WeftJsonContext.Default.IpsResponse)!.Ips.ToDictionary(i => i.Ip);
        Assert.Equal(4, ips.Count);
        Assert.Equal(("app-a", "0002", "cell-1"), (ips["10.255.12.3"].AppId, ips["10.255.12.3"].Tag, ips["10.255.12.3"].CellId));
        Assert.Equal(("app-b", "0001"), (ips["10.255.13.2"].AppId, ips["10.255.13.2"].Tag));
        Assert.Null(ips["10.255.13.3"].Tag);

        (status, body) = await S.Int(HttpMethod.Get, "/weft/v1/apps?name=frontend");
        var apps = JsonSerializer.Deserialize(body, WeftJsonContext.Default.AppsResponse)!.Apps;
        var frontend = Assert.Single(apps);
        Assert.Equal(("app-a", "frontend", "0002", "space-1"), (frontend.Id, frontend.Name, frontend.Tag, frontend.SpaceId));
        Assert.Equal(["10.255.12.2", "10.255.12.3"], frontend.Instances.Select(i => i.Ip));
        Assert.Equal([0, 1], frontend.Instances.Select(i => i.InstanceIndex));

        // The same registration again does not change the registry revision; a different one does.
        (_, body) = await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1",
            Cell("198.18.0.11", ("c2", "app-a", "frontend", 1, "10.255.12.3"), ("c1", "app-a", "frontend", 0, "10.255.12.2")));
        var (_, watch) = await S.Int(HttpMethod.Get, $"/weft/v1/watch?since={rev1 + 1}&timeout=0s&kinds=registry");
        Assert.Equal("[]", Json(watch).GetProperty("changed").GetRawText());
        await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1", Cell("198.18.0.11", ("c1", "app-a", "frontend", 0, "10.255.12.2")));
        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/registry");
        var reg = JsonSerializer.Deserialize(body, WeftJsonContext.Default.RegistryResponse)!;
        Assert.Equal(["cell-1", "cell-2"], reg.Cells.Select(c => c.CellId));
        Assert.Single(reg.Cells[0].Containers);

        (status, _) = await S.Int(HttpMethod.Delete, "/weft/v1/registry/cells/cell-2");
        Assert.Equal(200, status);
        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/ips");
        Assert.Single(JsonSerializer.Deserialize(body, WeftJsonContext.Default.IpsResponse)!.Ips);
    }

    [Theory]
    [InlineData("""{"underlay_ip":"x","containers":[]}""", "invalid underlay_ip 'x'")]
    [InlineData("""{"underlay_ip":"198.18.0.1","containers":[{"container_id":"","app_id":"a","ip":"10.255.1.2"}]}""", "missing container_id")]
    [InlineData("""{"underlay_ip":"198.18.0.1","containers":[{"container_id":"c","app_id":"","ip":"10.255.1.2"}]}""", "container 'c': missing app_id")]
    [InlineData("""{"underlay_ip":"198.18.0.1","containers":[{"container_id":"c","app_id":"a","ip":"10.255.1"}]}""", "container 'c': invalid ip '10.255.1'")]
    [InlineData("""{"underlay_ip":"198.18.0.1","containers":[{"container_id":"c","app_id":"a","ip":"10.255.1.2"},{"container_id":"c","app_id":"a","ip":"10.255.1.3"}]}""", "duplicate container_id 'c'")]
    public async Task Bad_registrations_are_refused_and_change_nothing(string body, string error)
    {
        var (status, resp) = await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-9", body);
        Assert.Equal(400, status);
        Assert.Equal(error, Json(resp).GetProperty("error").GetString());
        var (_, reg) = await S.Int(HttpMethod.Get, "/weft/v1/registry");
        Assert.Equal("[]", Json(reg).GetProperty("cells").GetRawText());
    }

    [Fact]
    public async Task Watch_returns_at_once_when_behind_and_wakes_on_a_commit()
    {
        var (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=0&timeout=0s");
        var rev = Json(body).GetProperty("revision").GetInt64();

        // Caught up: a watch waits; a policy commit wakes it with "policies".
        var watch = S.Int(HttpMethod.Get, $"/weft/v1/watch?since={rev}&timeout=30s");
        await Task.Delay(200);
        Assert.False(watch.IsCompleted);
        await S.CreateAsync(Policy("w1", "w2"));
        var (status, woke) = await watch.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(200, status);
        var resp = JsonSerializer.Deserialize(woke, WeftJsonContext.Default.WatchResponse)!;
        Assert.Equal(["policies"], resp.Changed);
        Assert.True(resp.Revision > rev);

        // Kinds filter: a lease change does not wake a policies-only watcher; timeout gives an empty change list.
        var policiesOnly = S.Int(HttpMethod.Get, $"/weft/v1/watch?since={resp.Revision}&timeout=1s&kinds=policies");
        await AcquireAsync("198.18.3.1");
        (status, body) = await policiesOnly;
        Assert.Equal(200, status);
        Assert.Equal("[]", Json(body).GetProperty("changed").GetRawText());
        (_, body) = await S.Int(HttpMethod.Get, $"/weft/v1/watch?since={resp.Revision}&timeout=1s");
        Assert.Equal("""["leases"]""", Json(body).GetProperty("changed").GetRawText());

        // A client ahead of the server (database replaced) is told everything changed.
        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=999999&timeout=5s");
        Assert.Equal("""["policies","leases","registry"]""", Json(body).GetProperty("changed").GetRawText());

        (status, _) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=abc");
        Assert.Equal(400, status);
        (status, _) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=1&kinds=bogus");
        Assert.Equal(400, status);
    }

    [Fact]
    public async Task Snapshot_has_everything_an_agent_needs()
    {
        await S.CreateAsync(Policy("app-b", "app-a", 8080, 8080), Policy("x", "y"));
        var lease = await AcquireAsync("198.18.0.11");
        await S.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1", Cell("198.18.0.11", ("c1", "app-a", "frontend", 0, "10.255.12.2")));
        var (status, body) = await S.Int(HttpMethod.Get, "/weft/v1/snapshot");
        Assert.Equal(200, status);
        var snap = JsonSerializer.Deserialize(body, WeftJsonContext.Default.SnapshotResponse)!;
        Assert.Equal(2, snap.Policies.Count);
        Assert.Equal("0001", snap.Policies[0].Source!.Tag);
        Assert.Equal(lease.OverlaySubnet, Assert.Single(snap.Leases).OverlaySubnet);
        Assert.Equal("c1", Assert.Single(Assert.Single(snap.Cells).Containers).ContainerId);
        var ip = Assert.Single(snap.Ips);
        Assert.Equal(("10.255.12.2", "app-a", "0002"), (ip.Ip, ip.AppId, ip.Tag));
        var (_, watch) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=0&timeout=0s");
        Assert.Equal(Json(watch).GetProperty("revision").GetInt64(), snap.Revision);

        (_, body) = await S.Int(HttpMethod.Get, "/weft/v1/snapshot?app_ids=app-a");
        snap = JsonSerializer.Deserialize(body, WeftJsonContext.Default.SnapshotResponse)!;
        Assert.Equal("app-a", Assert.Single(snap.Policies).Destination!.Id);
    }

    [Fact]
    public async Task Internal_api_refuses_clients_without_a_platform_certificate()
    {
        // No client certificate.
        using (var anon = MtlsClient(null, null, Path.Combine(S.Dir, "ca.crt"), S.Host.InternalUri))
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => anon.GetAsync("/networking/v1/internal/policies"));

        // A certificate from another CA (a different `weft-server init`).
        var otherDir = InitDir("cell-1");
        try
        {
            using var foreign = MtlsClient(Path.Combine(otherDir, "agents", "cell-1.crt"), Path.Combine(otherDir, "agents", "cell-1.key"),
                Path.Combine(S.Dir, "ca.crt"), S.Host.InternalUri);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => foreign.GetAsync("/weft/v1/leases"));
            // The server certificate itself is a platform certificate but not a client one.
            using var serverCert = MtlsClient(Path.Combine(S.Dir, "server.crt"), Path.Combine(S.Dir, "server.key"),
                Path.Combine(S.Dir, "ca.crt"), S.Host.InternalUri);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => serverCert.GetAsync("/weft/v1/leases"));
        }
        finally
        {
            Directory.Delete(otherDir, true);
        }
        // A proper agent certificate still works (the server kept serving).
        using var cell2 = S.AgentClient("cell-2");
        Assert.Equal(HttpStatusCode.OK, (await cell2.GetAsync("/networking/v1/internal/policies")).StatusCode);
    }

    [Fact]
    public async Task Each_listener_serves_only_its_own_routes()
    {
        // Internal routes are not on the external listener...
        var (status, _) = await S.Ext(HttpMethod.Get, "/networking/v1/internal/policies");
        Assert.Equal(404, status);
        (status, _) = await S.Ext(HttpMethod.Put, "/weft/v1/leases/acquire", """{"underlay_ip":"198.18.0.1"}""");
        Assert.Equal(404, status);
        // ...and the external policy API is not on the internal one.
        (status, _) = await S.Int(HttpMethod.Get, "/networking/v1/external/policies");
        Assert.Equal(404, status);
        // Weft's read routes are on both; on the external listener they need a token.
        (status, _) = await S.Ext(HttpMethod.Get, "/weft/v1/apps", token: null);
        Assert.Equal(401, status);
        (status, _) = await S.Ext(HttpMethod.Get, "/weft/v1/apps", token: "write");
        Assert.Equal(200, status);
        (status, _) = await S.Int(HttpMethod.Get, "/weft/v1/apps");
        Assert.Equal(200, status);
        (status, _) = await S.Int(HttpMethod.Get, "/health");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task Cleanup_deletes_policies_of_apps_gone_from_the_registry()
    {
        await using var s = await StartAsync(await DatabaseAsync(), o => o with { StaleAppAfterMinutes = 10 });
        await s.CreateAsync(Policy("gone", "stays"), Policy("stays", "never-registered"));
        await s.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1", Cell("198.18.0.11", ("c1", "gone", null, 0, "10.255.12.2"), ("c2", "stays", null, 0, "10.255.12.3")));
        await s.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1", Cell("198.18.0.11", ("c2", "stays", null, 0, "10.255.12.3")));
        // Not stale yet.
        var (status, body) = await s.Ext(HttpMethod.Post, "/networking/v1/external/policies/cleanup");
        Assert.Equal((200, """{"total_policies":0,"policies":[]}"""), (status, body));
        s.Time.Advance(TimeSpan.FromMinutes(11));
        await s.Int(HttpMethod.Put, "/weft/v1/registry/cells/cell-1", Cell("198.18.0.11", ("c2", "stays", null, 0, "10.255.12.3")));
        (status, body) = await s.Ext(HttpMethod.Post, "/networking/v1/external/policies/cleanup");
        Assert.Equal(200, status);
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"gone"},"destination":{"id":"stays","protocol":"tcp","ports":{"start":8080,"end":8080}}}]}""", body);
        (_, body) = await s.Ext(HttpMethod.Get, "/networking/v1/external/policies");
        Assert.Equal(1, Json(body).GetProperty("total_policies").GetInt32());
    }
}

public sealed class SqliteInternalApiTests : InternalApiTests
{
    protected override Task<string?> DatabaseAsync() => Task.FromResult<string?>(null);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresInternalApiTests(PostgresFixture pg) : InternalApiTests
{
    protected override async Task<string?> DatabaseAsync() => await pg.CreateDatabaseAsync();
}
