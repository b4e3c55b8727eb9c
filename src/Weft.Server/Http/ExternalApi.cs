using System.Data.Common;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Weft.Contracts;
using Weft.Server.Hosting;
using Weft.Server.Policies;
using Weft.Server.Storage;
using static Weft.Server.Http.HttpUtil;

namespace Weft.Server.Http;

/// <summary>Which listener an endpoint belongs to.</summary>
public sealed record ApiSurface(bool External, bool Internal)
{
    public static readonly ApiSurface ExternalOnly = new(true, false);
    public static readonly ApiSurface InternalOnly = new(false, true);
    public static readonly ApiSurface Both = new(true, true);
}

/// <summary>CF policy-server's external API (policy-server/cmd/policy-server/main.go), same shapes, codes and messages.</summary>
internal static class ExternalApi
{
    public static readonly string[] Patterns =
    [
        "/", "/networking", "/health",
        "/networking/{version}/external/whoami",
        "/networking/{version}/external/policies",
        "/networking/{version}/external/policies/delete",
        "/networking/{version}/external/policies/cleanup",
        "/networking/{version}/external/tags",
    ];

    public static void Map(IEndpointRouteBuilder app, ServerContext s)
    {
        app.MapGet("/", ctx => Uptime(ctx, s)).WithMetadata(new RouteLabel("Uptime")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapGet("/networking", ctx => Uptime(ctx, s)).WithMetadata(new RouteLabel("Uptime")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapGet("/health", ctx => Health(ctx, s)).WithMetadata(new RouteLabel("Health")).WithMetadata(ApiSurface.Both);
        app.MapGet("/networking/{version}/external/whoami", ctx => WhoAmI(ctx, s)).WithMetadata(new RouteLabel("WhoAmI")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapPost("/networking/{version}/external/policies", ctx => CreatePolicies(ctx, s)).WithMetadata(new RouteLabel("CreatePolicies")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapPost("/networking/{version}/external/policies/delete", ctx => DeletePolicies(ctx, s)).WithMetadata(new RouteLabel("DeletePolicies")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapGet("/networking/{version}/external/policies", ctx => PoliciesIndex(ctx, s)).WithMetadata(new RouteLabel("PoliciesIndex")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapPost("/networking/{version}/external/policies/cleanup", ctx => Cleanup(ctx, s)).WithMetadata(new RouteLabel("Cleanup")).WithMetadata(ApiSurface.ExternalOnly);
        app.MapGet("/networking/{version}/external/tags", ctx => TagsIndex(ctx, s)).WithMetadata(new RouteLabel("TagsIndex")).WithMetadata(ApiSurface.ExternalOnly);
        foreach (var p in Patterns)
            app.MapMethods(p, ["OPTIONS"], ctx => { ctx.Response.StatusCode = 200; return Task.CompletedTask; })
                .WithMetadata(new RouteLabel("Options")).WithMetadata(ApiSurface.ExternalOnly);
    }

    private static string? Version(HttpContext ctx) => ctx.Request.RouteValues["version"] as string;

    /// <summary>CF's CheckVersionWrapper: v1 or v0, otherwise 406. Runs before authentication.</summary>
    private static async Task<bool?> CheckVersionAsync(HttpContext ctx)
    {
        var v = Version(ctx);
        if (v == "v1") return true;
        if (v == "v0") return false;
        await ErrorAsync(ctx, 406, $"api version '{v}' not supported");
        return null;
    }

    private static Task Uptime(HttpContext ctx, ServerContext s)
    {
        var up = System.Diagnostics.Stopwatch.GetElapsedTime(s.StartTimestamp);
        return WriteBytesAsync(ctx, 200, System.Text.Encoding.UTF8.GetBytes($"Network policy server, up for {GoDuration(up)}\n"), "text/plain; charset=utf-8");
    }

    private static async Task Health(HttpContext ctx, ServerContext s)
    {
        if (await s.Store.PingAsync(ctx.RequestAborted)) { ctx.Response.StatusCode = 200; return; }
        await ErrorAsync(ctx, 500, "check database failed");
    }

    private static async Task WhoAmI(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is null) return;
        if (await AuthenticateAsync(ctx, s, AdminOnly) is not { } id) return;
        await WriteJsonAsync(ctx, 200, new WhoAmIResponse { Subject = id.Subject }, Out.WhoAmIResponse);
    }

    private static async Task<List<PolicyKey>?> ReadPoliciesAsync(HttpContext ctx, bool v1)
    {
        var body = await ReadBodyAsync(ctx);
        if (body is null)
        {
            await ErrorAsync(ctx, 400, "failed reading request body");
            return null;
        }
        var keys = v1 ? PolicyValidator.ParseV1(body, out var error) : PolicyValidator.ParseV0(body, out error);
        if (keys is null) await ErrorAsync(ctx, 400, error!);
        return keys;
    }

    private static async Task CreatePolicies(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is not { } v1) return;
        if (await AuthenticateAsync(ctx, s, AdminOrWrite) is not { } id) return;
        if (await ReadPoliciesAsync(ctx, v1) is not { } policies) return;
        if (!id.IsAdmin)
        {
            // CF's QuotaGuard: existing policies with the app as source plus the new ones in the request.
            var (_, snapshot) = await s.Cache.PoliciesAsync(ctx.RequestAborted);
            foreach (var g in policies.GroupBy(p => p.Source))
            {
                if (snapshot.CountBySource(g.Key) + g.Count() > s.Options.MaxPoliciesPerAppSource)
                {
                    await ErrorAsync(ctx, 403, "policy quota exceeded");
                    return;
                }
            }
        }
        try
        {
            await s.Store.CreatePoliciesAsync(policies, ctx.RequestAborted);
        }
        catch (TagsExhaustedException e)
        {
            ServerLog.TagsExhausted(s.Log, e.Capacity);
            await ErrorAsync(ctx, 500, $"database create failed: {e.Message}");
            return;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            ServerLog.StoreFailed(s.Log, "create policies", e);
            await ErrorAsync(ctx, 500, "database create failed");
            return;
        }
        ServerLog.PoliciesCreated(s.Log, policies.Count, id.Subject);
        await WriteEmptyObjectAsync(ctx);
    }

    private static async Task DeletePolicies(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is not { } v1) return;
        if (await AuthenticateAsync(ctx, s, AdminOrWrite) is not { } id) return;
        if (await ReadPoliciesAsync(ctx, v1) is not { } policies) return;
        try
        {
            await s.Store.DeletePoliciesAsync(policies, ctx.RequestAborted);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            ServerLog.StoreFailed(s.Log, "delete policies", e);
            await ErrorAsync(ctx, 500, "database delete failed");
            return;
        }
        ServerLog.PoliciesDeleted(s.Log, policies.Count, id.Subject);
        await WriteEmptyObjectAsync(ctx);
    }

    private static async Task PoliciesIndex(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is not { } v1) return;
        if (await AuthenticateAsync(ctx, s, AdminOrWrite) is null) return;
        var (_, snapshot) = await s.Cache.PoliciesAsync(ctx.RequestAborted);
        var rows = Select(ctx, snapshot);
        if (rows is null)
        {
            await WriteBytesAsync(ctx, 200, snapshot.ListBytes(false, s.Options.TagLength, !v1));
            return;
        }
        await WriteBytesAsync(ctx, 200, PolicyJson.ToBytes(w => PolicyJson.WriteList(w, rows, false, s.Options.TagLength, !v1), 256 + rows.Count * 160));
    }

    /// <summary>CF's list filter (handlers/policies_index.go); null means all policies.</summary>
    internal static List<PolicyRow>? Select(HttpContext ctx, PolicySnapshot snapshot)
    {
        var ids = QueryList(ctx, "id");
        var sources = QueryList(ctx, "source_id");
        var dests = QueryList(ctx, "dest_id");
        if (ids is not null) return snapshot.ByGuids(ids, ids, false).ToList();
        if (sources is not null && dests is not null) return snapshot.ByGuids(sources, dests.ToHashSet(StringComparer.Ordinal), true).ToList();
        if (sources is not null) return snapshot.ByGuids(sources, [], false).ToList();
        if (dests is not null) return snapshot.ByGuids([], dests, false).ToList();
        return null;
    }

    private static async Task Cleanup(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is null) return;
        if (await AuthenticateAsync(ctx, s, AdminOnly) is null) return;
        List<PolicyRow> deleted;
        try
        {
            deleted = await s.Store.CleanupStalePoliciesAsync(TimeSpan.FromMinutes(s.Options.StaleAppAfterMinutes), ctx.RequestAborted);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            ServerLog.StoreFailed(s.Log, "cleanup", e);
            await ErrorAsync(ctx, 500, "policies cleanup failed");
            return;
        }
        await WriteBytesAsync(ctx, 200, PolicyJson.ToBytes(w => PolicyJson.WriteList(w, deleted, false, s.Options.TagLength)));
    }

    private static async Task TagsIndex(HttpContext ctx, ServerContext s)
    {
        if (await CheckVersionAsync(ctx) is null) return;
        if (await AuthenticateAsync(ctx, s, AdminOnly) is null) return;
        var tags = await s.Store.ListTagsAsync(ctx.RequestAborted);
        await WriteJsonAsync(ctx, 200, new TagsResponse { Tags = tags }, Out.TagsResponse);
    }
}

/// <summary>The route's name in metrics (CF's metric names: CreatePolicies, PoliciesIndex, ...).</summary>
public sealed record RouteLabel(string Name);
