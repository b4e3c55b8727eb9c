using System.Net;
using System.Text.Json;
using static Weft.Server.Tests.TestServer;

namespace Weft.Server.Tests;

/// <summary>CF-compatible external policy API, on every engine (see the subclasses at the end).</summary>
public abstract class PolicyApiTests : IAsyncLifetime
{
    protected TestServer S = null!;
    protected abstract Task<string?> DatabaseAsync();
    protected virtual Func<ServerOptions, ServerOptions>? Configure => null;

    public async Task InitializeAsync() => S = await StartAsync(await DatabaseAsync(), Configure);
    public async Task DisposeAsync() => await S.DisposeAsync();

    private const string PoliciesPath = "/networking/v1/external/policies";

    [Fact]
    public async Task Create_list_delete_use_CF_shapes()
    {
        var create = Batch(Policy("1081ceac-f5c4-47a8-95e8-88e1e302efb5", "38f08df0-19df-4439-b4e9-61096d4301ea", 1234, 1235));
        var (status, body) = await S.Ext(HttpMethod.Post, PoliciesPath, create);
        Assert.Equal(200, status);
        Assert.Equal("{}", body);

        (status, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(200, status);
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"1081ceac-f5c4-47a8-95e8-88e1e302efb5"},"destination":{"id":"38f08df0-19df-4439-b4e9-61096d4301ea","protocol":"tcp","ports":{"start":1234,"end":1235}}}]}""", body);

        (status, body) = await S.Ext(HttpMethod.Post, PoliciesPath + "/delete", create);
        Assert.Equal((200, "{}"), (status, body));
        (_, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal("""{"total_policies":0,"policies":[]}""", body);
    }

    [Fact]
    public async Task Batches_are_idempotent()
    {
        var p = Policy("a", "b");
        await S.CreateAsync(p, p);
        await S.CreateAsync(p);
        var (_, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(1, Json(body).GetProperty("total_policies").GetInt32());
        // Deleting what does not exist is a 200 no-op.
        var (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath + "/delete", Batch(Policy("x", "y"), p, p));
        Assert.Equal(200, status);
        (_, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(0, Json(body).GetProperty("total_policies").GetInt32());
    }

    public static TheoryData<string, string> V1Invalid => new()
    {
        { """{"policies":[]}""", "missing policies" },
        { """{}""", "missing policies" },
        { """{"policies":[{"source":{"id":""},"destination":{"id":"b","protocol":"tcp","ports":{"start":1,"end":2}}}]}""", "missing source id" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"protocol":"tcp","ports":{"start":1,"end":2}}}]}""", "missing destination id" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"icmp","ports":{"start":1,"end":2}}}]}""", "invalid destination protocol, specify either udp or tcp" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"all","ports":{"start":1,"end":2}}}]}""", "invalid destination protocol, specify either udp or tcp" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":9,"end":2}}}]}""", "invalid port range 9-2, start must be less than or equal to end" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":-1,"end":2}}}]}""", "invalid start port -1, must be in range 1-65535" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":0,"end":2}}}]}""", "missing start port" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp"}}]}""", "missing start port" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":1,"end":65536}}}]}""", "invalid end port 65536, must be in range 1-65535" },
        { """{"policies":[{"source":{"id":"a","tag":"0001"},"destination":{"id":"b","protocol":"tcp","ports":{"start":1,"end":2}}}]}""", "tags may not be specified" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","tag":"01","protocol":"tcp","ports":{"start":1,"end":2}}}]}""", "tags may not be specified" },
        // Order: the first failing policy wins, and within it the first failing check.
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":1,"end":2}}},{"source":{"id":""},"destination":{"id":"","protocol":"x"}}]}""", "missing source id" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"x","ports":{"start":5,"end":2}}}]}""", "invalid destination protocol, specify either udp or tcp" },
    };

    [Theory]
    [MemberData(nameof(V1Invalid))]
    public async Task V1_validation_matches_CF(string body, string message)
    {
        foreach (var path in new[] { PoliciesPath, PoliciesPath + "/delete" })
        {
            var (status, resp) = await S.Ext(HttpMethod.Post, path, body);
            Assert.Equal(400, status);
            Assert.Equal(JsonSerializer.Serialize(new { error = "mapper: validate policies: " + message }), resp);
        }
        var (_, list) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(0, Json(list).GetProperty("total_policies").GetInt32());
    }

    public static TheoryData<string, string> V0Invalid => new()
    {
        { """{"policies":[]}""", "missing policies" },
        { """{"policies":[{"source":{"id":""},"destination":{"id":"b","protocol":"tcp","port":8080}}]}""", "missing source id" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"","protocol":"tcp","port":8080}}]}""", "missing destination id" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"sctp","port":8080}}]}""", "invalid destination protocol, specify either udp or tcp" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","port":-5}}]}""", "invalid port -5, must be in range 1-65535" },
        { """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","port":0}}]}""", "missing port" },
        { """{"policies":[{"source":{"id":"a","tag":"0001"},"destination":{"id":"b","protocol":"tcp","port":1}}]}""", "tags may not be specified" },
    };

    [Theory]
    [MemberData(nameof(V0Invalid))]
    public async Task V0_validation_matches_CF(string body, string message)
    {
        var (status, resp) = await S.Ext(HttpMethod.Post, "/networking/v0/external/policies", body);
        Assert.Equal(400, status);
        Assert.Equal("mapper: validate policies: " + message, Json(resp).GetProperty("error").GetString());
    }

    [Fact]
    public async Task Invalid_json_is_an_unmarshal_error()
    {
        foreach (var body in new[] { "{", "", "[1,2]", """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":"8080","end":1}}}]}""" })
        {
            var (status, resp) = await S.Ext(HttpMethod.Post, PoliciesPath, body);
            Assert.Equal(400, status);
            Assert.StartsWith("mapper: unmarshal json: ", Json(resp).GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task Member_names_are_case_insensitive_and_unknown_keys_ignored_like_Go()
    {
        var (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath,
            """{"Policies":[{"Source":{"ID":"a","extra":1},"destination":{"id":"b","Protocol":"udp","ports":{"start":53,"end":53}},"whatever":true}]}""");
        Assert.Equal(200, status);
        var (_, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Contains("\"protocol\":\"udp\"", body);
    }

    [Fact]
    public async Task V0_uses_a_single_port_and_hides_ranges()
    {
        var (status, _) = await S.Ext(HttpMethod.Post, "/networking/v0/external/policies",
            """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","port":8080}}]}""");
        Assert.Equal(200, status);
        await S.CreateAsync(Policy("a", "c", 1000, 2000));
        var (_, v0) = await S.Ext(HttpMethod.Get, "/networking/v0/external/policies");
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","port":8080}}]}""", v0);
        var (_, v1) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(2, Json(v1).GetProperty("total_policies").GetInt32());
        Assert.Contains("""{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","ports":{"start":8080,"end":8080}}}""", v1);
        // v0 delete of the single-port policy.
        (status, _) = await S.Ext(HttpMethod.Post, "/networking/v0/external/policies/delete",
            """{"policies":[{"source":{"id":"a"},"destination":{"id":"b","protocol":"tcp","port":8080}}]}""");
        Assert.Equal(200, status);
        (_, v1) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(1, Json(v1).GetProperty("total_policies").GetInt32());
    }

    [Fact]
    public async Task Unknown_versions_get_406_before_authentication()
    {
        foreach (var (method, path) in new[]
                 {
                     (HttpMethod.Get, "/networking/v2/external/policies"), (HttpMethod.Post, "/networking/v9/external/policies"),
                     (HttpMethod.Post, "/networking/vX/external/policies/delete"), (HttpMethod.Get, "/networking/v3/external/tags"),
                     (HttpMethod.Get, "/networking/v3/external/whoami"), (HttpMethod.Post, "/networking/v3/external/policies/cleanup"),
                 })
        {
            var (status, body) = await S.Ext(method, path, "{}", token: null);
            Assert.Equal(406, status);
            var version = path.Split('/')[2];
            Assert.Equal($$"""{"error":"api version '{{version}}' not supported"}""", body);
        }
    }

    [Fact]
    public async Task Authentication_and_scopes_match_CF()
    {
        using (var r = await S.External.GetAsync(PoliciesPath))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("Bearer", r.Headers.WwwAuthenticate.ToString());
            Assert.Equal("""{"error":"missing authorization header"}""", await r.Content.ReadAsStringAsync());
        }
        var (status, body) = await S.Ext(HttpMethod.Get, PoliciesPath, token: "weft_not-a-real-token");
        Assert.Equal((401, """{"error":"failed to verify token with uaa"}"""), (status, body));

        // The header works without the Bearer prefix too.
        using (var req = new HttpRequestMessage(HttpMethod.Get, PoliciesPath))
        {
            req.Headers.TryAddWithoutValidation("Authorization", S.AdminToken);
            using var r = await S.External.SendAsync(req);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        // network.write may manage policies but not tags, whoami or cleanup.
        (status, _) = await S.Ext(HttpMethod.Get, PoliciesPath, token: "write");
        Assert.Equal(200, status);
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/networking/v1/external/tags"), (HttpMethod.Get, "/networking/v1/external/whoami"), (HttpMethod.Post, "/networking/v1/external/policies/cleanup") })
        {
            (status, body) = await S.Ext(method, path, token: "write");
            Assert.Equal(403, status);
            Assert.Equal("""{"error":"provided scopes [network.write] do not include allowed scopes [network.admin]"}""", body);
        }

        // A token with no network scope at all.
        var other = Weft.Server.Security.TokenStore.Add(Path.Combine(S.Dir, "tokens.json"), "bob", ["cloud_controller.read"]);
        await Task.Delay(1100); // the token file is re-read at most once a second
        (status, body) = await S.Ext(HttpMethod.Get, PoliciesPath, token: other);
        Assert.Equal((403, """{"error":"provided scopes [cloud_controller.read] do not include allowed scopes [network.admin network.write]"}"""), (status, body));

        (status, body) = await S.Ext(HttpMethod.Get, "/networking/v1/external/whoami");
        Assert.Equal((200, """{"subject":"admin"}"""), (status, body));
    }

    [Fact]
    public async Task Removed_tokens_stop_working()
    {
        var path = Path.Combine(S.Dir, "tokens.json");
        var t = Weft.Server.Security.TokenStore.Add(path, "carol", ["network.write"]);
        await Task.Delay(1100);
        Assert.Equal(200, (await S.Ext(HttpMethod.Get, PoliciesPath, token: t)).Status);
        var file = Weft.Server.Security.TokenStore.Read(path);
        file.Tokens.RemoveAll(x => x.Subject == "carol");
        Weft.Server.Security.TokenStore.Write(path, file);
        await Task.Delay(1100);
        Assert.Equal(401, (await S.Ext(HttpMethod.Get, PoliciesPath, token: t)).Status);
    }

    [Fact]
    public async Task List_filters_match_CF()
    {
        await S.CreateAsync(Policy("a", "b"), Policy("b", "c"), Policy("c", "a"), Policy("d", "d"));
        async Task<string[]> List(string query)
        {
            var (status, body) = await S.Ext(HttpMethod.Get, PoliciesPath + query);
            Assert.Equal(200, status);
            var root = Json(body);
            var items = root.GetProperty("policies").EnumerateArray()
                .Select(p => p.GetProperty("source").GetProperty("id").GetString() + ">" + p.GetProperty("destination").GetProperty("id").GetString())
                .Order().ToArray();
            Assert.Equal(items.Length, root.GetProperty("total_policies").GetInt32());
            return items;
        }
        Assert.Equal(["a>b", "b>c", "c>a", "d>d"], await List(""));
        Assert.Equal(["a>b", "c>a"], await List("?id=a"));
        Assert.Equal(["a>b", "b>c", "c>a"], await List("?id=a,b"));
        Assert.Equal(["a>b"], await List("?source_id=a"));
        Assert.Equal(["a>b", "b>c"], await List("?source_id=a,b"));
        Assert.Equal(["b>c"], await List("?dest_id=c"));
        Assert.Equal(["a>b"], await List("?source_id=a,b&dest_id=b"));
        Assert.Equal(["a>b", "c>a"], await List("?id=a&id=b")); // only the first occurrence counts
        Assert.Equal(["b>c", "c>a"], await List("?id=c&source_id=a&dest_id=a")); // id wins over source_id/dest_id
        Assert.Empty(await List("?id="));
    }

    [Fact]
    public async Task Tags_are_lowest_free_per_app_freed_and_reused()
    {
        await S.CreateAsync(Policy("a", "b"), Policy("c", "b", 9000, 9001));
        var (status, body) = await S.Ext(HttpMethod.Get, "/networking/v1/external/tags");
        Assert.Equal(200, status);
        Assert.Equal("""{"tags":[{"id":"a","tag":"0001","type":"app"},{"id":"b","tag":"0002","type":"app"},{"id":"c","tag":"0003","type":"app"}]}""", body);

        // a is in no policy any more: its tag 1 is freed and is the next one handed out.
        await S.Ext(HttpMethod.Post, PoliciesPath + "/delete", Batch(Policy("a", "b")));
        (_, body) = await S.Ext(HttpMethod.Get, "/networking/v1/external/tags");
        Assert.Equal("""{"tags":[{"id":"b","tag":"0002","type":"app"},{"id":"c","tag":"0003","type":"app"}]}""", body);
        await S.CreateAsync(Policy("e", "c"));
        (_, body) = await S.Ext(HttpMethod.Get, "/networking/v1/external/tags");
        Assert.Contains("""{"id":"e","tag":"0001","type":"app"}""", body);

        // Internal view carries the tags.
        (status, body) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=e");
        Assert.Equal(200, status);
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"e","tag":"0001"},"destination":{"id":"c","tag":"0003","protocol":"tcp","ports":{"start":8080,"end":8080}}}]}""", body);
    }

    [Fact]
    public async Task Non_admins_have_a_per_source_quota()
    {
        var batch = Batch(Enumerable.Range(0, 150).Select(i => Policy("busy", $"d{i}")).ToArray());
        var (status, body) = await S.Ext(HttpMethod.Post, PoliciesPath, batch, token: "write");
        Assert.Equal(200, status);
        (status, body) = await S.Ext(HttpMethod.Post, PoliciesPath, Batch(Policy("busy", "one-more")), token: "write");
        Assert.Equal((403, """{"error":"policy quota exceeded"}"""), (status, body));
        // Admins are not limited.
        (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath, Batch(Policy("busy", "one-more")));
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task External_responses_carry_security_headers()
    {
        using var r = await S.External.SendAsync(S.Request(HttpMethod.Get, PoliciesPath, S.AdminToken));
        Assert.Equal("1; mode=block", r.Headers.GetValues("X-XSS-Protection").Single());
        Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("deny", r.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("frame-ancestors 'none'", r.Headers.GetValues("Content-Security-Policy").Single());
        Assert.False(r.Headers.Contains("Strict-Transport-Security")); // plain HTTP
        using var o = await S.External.SendAsync(new HttpRequestMessage(HttpMethod.Options, PoliciesPath));
        Assert.Equal(HttpStatusCode.OK, o.StatusCode);
    }

    [Fact]
    public async Task Oversized_body_is_refused_and_the_server_keeps_serving()
    {
        var big = new string(' ', 10 * 1024 * 1024 + 10);
        var (status, body) = await S.Ext(HttpMethod.Post, PoliciesPath, "{\"policies\":[]" + big + "}");
        Assert.Equal((400, """{"error":"failed reading request body"}"""), (status, body));
        (status, _) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(200, status);
        await S.CreateAsync(Policy("still", "works"));
    }

    [Fact]
    public async Task Uptime_health_metrics_and_openapi()
    {
        var (status, body) = await S.Ext(HttpMethod.Get, "/", token: null);
        Assert.Equal(200, status);
        Assert.Matches(@"^Network policy server, up for [0-9.]+(ms|s|µs|m[0-9.]+s)\n$", body);
        (status, body) = await S.Ext(HttpMethod.Get, "/health", token: null);
        Assert.Equal((200, ""), (status, body));
        await S.CreateAsync(Policy("m1", "m2"));
        (status, body) = await S.Ext(HttpMethod.Get, "/metrics", token: null);
        Assert.Equal(200, status);
        Assert.Contains("weft_http_requests_total{route=\"CreatePolicies\",code=\"200\"} 1", body);
        Assert.Contains("weft_http_request_duration_seconds_count{route=\"CreatePolicies\"} 1", body);
        Assert.Contains("weft_policies 1", body);
        Assert.Contains("weft_watchers 0", body);
        (status, body) = await S.Ext(HttpMethod.Get, "/openapi.json", token: null);
        Assert.Equal(200, status);
        var doc = Json(body);
        Assert.True(doc.GetProperty("paths").TryGetProperty("/networking/{version}/external/policies", out _));
        Assert.True(doc.GetProperty("paths").TryGetProperty("/weft/v1/watch", out _));
    }

    [Fact]
    public async Task All_tags_taken_is_a_clear_error()
    {
        await using var small = await StartAsync(await DatabaseAsync(), o => o with { TagLength = 1 });
        // 255 tags: 127 policies between distinct apps take 254, one more app takes the last one.
        var batch = Enumerable.Range(0, 127).Select(i => Policy($"s{i}", $"d{i}")).Append(Policy("s0", "last")).ToArray();
        var (status, _) = await small.Ext(HttpMethod.Post, PoliciesPath, Batch(batch));
        Assert.Equal(200, status);
        var (s2, body) = await small.Ext(HttpMethod.Post, PoliciesPath, Batch(Policy("new-app", "d0")));
        Assert.Equal(500, s2);
        Assert.Equal("database create failed: all 255 tags are in use; delete policies to free tags of apps that are in no policy",
            Json(body).GetProperty("error").GetString());
        // Nothing of the failed batch was kept, and freeing a tag makes room again.
        var (_, tags) = await small.Ext(HttpMethod.Get, "/networking/v1/external/tags");
        Assert.Equal(255, Json(tags).GetProperty("tags").GetArrayLength());
        Assert.Contains("\"tag\":\"FF\"", tags);
        await small.Ext(HttpMethod.Post, PoliciesPath + "/delete", Batch(Policy("s5", "d5")));
        (s2, _) = await small.Ext(HttpMethod.Post, PoliciesPath, Batch(Policy("new-app", "d0")));
        Assert.Equal(200, s2);
    }

    [Fact]
    public async Task Parallel_batches_get_unique_tags_and_lose_nothing()
    {
        var batches = Enumerable.Range(0, 20).Select(b =>
            Batch(Enumerable.Range(0, 10).Select(i => Policy($"app-{b}-{i}", $"app-{(b + 1) % 20}-{i}", 8000 + i, 8000 + i)).ToArray())).ToList();
        var results = await Task.WhenAll(batches.Select(body => S.Ext(HttpMethod.Post, PoliciesPath, body)));
        Assert.All(results, r => Assert.Equal(200, r.Status));
        var (_, list) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(200, Json(list).GetProperty("total_policies").GetInt32());
        var (_, tagsBody) = await S.Ext(HttpMethod.Get, "/networking/v1/external/tags");
        var tags = Json(tagsBody).GetProperty("tags").EnumerateArray().Select(t => (Id: t.GetProperty("id").GetString(), Tag: t.GetProperty("tag").GetString())).ToList();
        Assert.Equal(200, tags.Count);
        Assert.Equal(200, tags.Select(t => t.Tag).Distinct().Count());
        Assert.Equal(200, tags.Select(t => t.Id).Distinct().Count());
        // Lowest free first: exactly 1..200.
        Assert.Equal(Enumerable.Range(1, 200).Select(i => i.ToString("X4")), tags.Select(t => t.Tag).Order());
    }

    [Fact]
    public async Task Refused_batches_leave_every_served_list_unchanged()
    {
        await S.CreateAsync(Policy("keep-a", "keep-b"), Policy("keep-b", "keep-c", 9000, 9100));
        // Serve (and so cache) every list shape first.
        var before = await ServedListsAsync();
        var (_, w) = await S.Int(HttpMethod.Get, "/weft/v1/watch?since=0&timeout=0s");
        var rev = Json(w).GetProperty("revision").GetInt64();
        var big = new string(' ', 10 * 1024 * 1024 + 10);
        var refused = new[]
        {
            Batch(Policy("new-a", "new-b"), Policy("new-c", "new-d", 0, 0)),           // second policy invalid
            "{\"policies\":[" + Policy("new-a", "new-b") + "]" + big + "}",          // oversized
            "{\"policies\":[" + Policy("new-a", "new-b") + ",",                      // invalid JSON
        };
        foreach (var body in refused)
        {
            var (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath, body);
            Assert.Equal(400, status);
            (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath + "/delete", body);
            Assert.Equal(400, status);
        }
        Assert.Equal(before, await ServedListsAsync());
        (_, w) = await S.Int(HttpMethod.Get, $"/weft/v1/watch?since={rev}&timeout=0s");
        Assert.Equal("[]", Json(w).GetProperty("changed").GetRawText());
    }

    private async Task<string[]> ServedListsAsync() =>
    [
        (await S.Ext(HttpMethod.Get, PoliciesPath)).Body,
        (await S.Ext(HttpMethod.Get, "/networking/v0/external/policies")).Body,
        (await S.Int(HttpMethod.Get, "/networking/v1/internal/policies")).Body,
        (await S.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=keep-b,new-a")).Body,
        (await S.Ext(HttpMethod.Get, "/networking/v1/external/tags")).Body,
    ];

    [Fact]
    public async Task Served_lists_follow_creates_deletes_and_tag_reuse()
    {
        await S.CreateAsync(Policy("a", "b"), Policy("b", "c"), Policy("c", "a", 7000, 7010));
        await S.Int(HttpMethod.Get, "/networking/v1/internal/policies"); // a view with cached fragments
        await S.Ext(HttpMethod.Get, PoliciesPath);
        // b leaves every policy: its tag (2) is freed and the next new app takes it.
        var (status, _) = await S.Ext(HttpMethod.Post, PoliciesPath + "/delete", Batch(Policy("a", "b"), Policy("b", "c")));
        Assert.Equal(200, status);
        await S.CreateAsync(Policy("d", "a"));
        var (_, internalAll) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies");
        Assert.Equal("""{"total_policies":2,"policies":[{"source":{"id":"c","tag":"0003"},"destination":{"id":"a","tag":"0001","protocol":"tcp","ports":{"start":7000,"end":7010}}},{"source":{"id":"d","tag":"0002"},"destination":{"id":"a","tag":"0001","protocol":"tcp","ports":{"start":8080,"end":8080}}}]}""",
            internalAll);
        var (_, byId) = await S.Int(HttpMethod.Get, "/networking/v1/internal/policies?id=b,d");
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"d","tag":"0002"},"destination":{"id":"a","tag":"0001","protocol":"tcp","ports":{"start":8080,"end":8080}}}]}""", byId);
        var (_, v0) = await S.Ext(HttpMethod.Get, "/networking/v0/external/policies");
        Assert.Equal("""{"total_policies":1,"policies":[{"source":{"id":"d"},"destination":{"id":"a","protocol":"tcp","port":8080}}]}""", v0);
        var (_, snapshot) = await S.Int(HttpMethod.Get, "/weft/v1/snapshot");
        Assert.Equal(Json(internalAll).GetProperty("policies").GetRawText(), Json(snapshot).GetProperty("policies").GetRawText());
        // After a restart (a fresh load) the same bytes are served.
        await S.RestartAsync();
        Assert.Equal(internalAll, (await S.Int(HttpMethod.Get, "/networking/v1/internal/policies")).Body);
    }

    [Fact]
    public async Task Policies_survive_a_restart()
    {
        await S.CreateAsync(Policy("p", "q"));
        await S.RestartAsync();
        var (_, body) = await S.Ext(HttpMethod.Get, PoliciesPath);
        Assert.Equal(1, Json(body).GetProperty("total_policies").GetInt32());
    }
}

public sealed class SqlitePolicyApiTests : PolicyApiTests
{
    protected override Task<string?> DatabaseAsync() => Task.FromResult<string?>(null);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresPolicyApiTests(PostgresFixture pg) : PolicyApiTests
{
    protected override async Task<string?> DatabaseAsync() => await pg.CreateDatabaseAsync();
}
