using System.Data.Common;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Weft.Contracts;
using Weft.Server.Hosting;
using Weft.Server.Leases;
using Weft.Server.Policies;
using Weft.Server.Storage;
using static Weft.Server.Http.HttpUtil;

namespace Weft.Server.Http;

/// <summary>
/// The internal API (mTLS listener): CF policy-server-internal's paths, Silk controller's lease
/// paths, and Weft's own additions under /weft/v1 (leases, registry, watch, snapshot, apps).
/// Weft's read-only GET routes are also served on the external listener to token holders
/// (network.admin or network.write).
/// </summary>
internal static class InternalApi
{
    public static void Map(IEndpointRouteBuilder app, ServerContext s)
    {
        // CF policy-server-internal.
        app.MapGet("/networking/{version}/internal/policies", ctx => InternalPolicies(ctx, s)).WithMetadata(new RouteLabel("InternalPolicies")).WithMetadata(ApiSurface.InternalOnly);
        app.MapGet("/networking/{version}/internal/policies_last_updated", ctx => LastUpdated(ctx, s)).WithMetadata(new RouteLabel("InternalPoliciesLastUpdated")).WithMetadata(ApiSurface.InternalOnly);
        app.MapPut("/networking/v1/internal/tags", ctx => CreateTag(ctx, s)).WithMetadata(new RouteLabel("CreateTags")).WithMetadata(ApiSurface.InternalOnly);

        // Leases: Weft paths and Silk controller's.
        foreach (var prefix in new[] { "/weft/v1/leases", "/leases" })
        {
            var surface = prefix == "/leases" ? ApiSurface.InternalOnly : ApiSurface.Both;
            app.MapGet(prefix, ctx => LeasesIndex(ctx, s)).WithMetadata(new RouteLabel("LeasesIndex")).WithMetadata(surface);
            app.MapPut(prefix + "/acquire", ctx => LeasesAcquire(ctx, s)).WithMetadata(new RouteLabel("LeasesAcquire")).WithMetadata(ApiSurface.InternalOnly);
            app.MapPut(prefix + "/renew", ctx => LeasesRenew(ctx, s)).WithMetadata(new RouteLabel("LeasesRenew")).WithMetadata(ApiSurface.InternalOnly);
            app.MapPut(prefix + "/release", ctx => LeasesRelease(ctx, s)).WithMetadata(new RouteLabel("LeasesRelease")).WithMetadata(ApiSurface.InternalOnly);
        }

        // Registry.
        app.MapPut("/weft/v1/registry/cells/{cellId}", ctx => PutCell(ctx, s)).WithMetadata(new RouteLabel("RegistryPut")).WithMetadata(ApiSurface.InternalOnly);
        app.MapDelete("/weft/v1/registry/cells/{cellId}", ctx => DeleteCell(ctx, s)).WithMetadata(new RouteLabel("RegistryDelete")).WithMetadata(ApiSurface.InternalOnly);
        app.MapGet("/weft/v1/registry", ctx => Registry(ctx, s)).WithMetadata(new RouteLabel("Registry")).WithMetadata(ApiSurface.Both);
        app.MapGet("/weft/v1/ips", ctx => Ips(ctx, s)).WithMetadata(new RouteLabel("Ips")).WithMetadata(ApiSurface.Both);
        app.MapGet("/weft/v1/apps", ctx => Apps(ctx, s)).WithMetadata(new RouteLabel("Apps")).WithMetadata(ApiSurface.Both);

        // Change feed.
        app.MapGet("/weft/v1/watch", ctx => Watch(ctx, s)).WithMetadata(new RouteLabel("Watch")).WithMetadata(ApiSurface.Both);
        app.MapGet("/weft/v1/snapshot", ctx => Snapshot(ctx, s)).WithMetadata(new RouteLabel("Snapshot")).WithMetadata(ApiSurface.Both);
    }

    /// <summary>On the internal listener the verified client certificate suffices; on the external one a token is needed.</summary>
    private static async Task<bool> AllowedAsync(HttpContext ctx, ServerContext s) =>
        ctx.OnInternalListener(s) || await AuthenticateAsync(ctx, s, AdminOrWrite) is not null;

    private static Task InternalPolicies(HttpContext ctx, ServerContext s)
    {
        // Hot path (agents): the view is current, so answer without awaiting anything but the write.
        if (s.Cache.CurrentPolicies() is { } current) return WritePolicies(ctx, s, current);
        return Slow(ctx, s);

        static async Task Slow(HttpContext ctx, ServerContext s)
        {
            var (_, snapshot) = await s.Cache.PoliciesAsync(ctx.RequestAborted);
            await WritePolicies(ctx, s, snapshot);
        }
    }

    private static Task WritePolicies(HttpContext ctx, ServerContext s, PolicySnapshot snapshot)
    {
        var ids = QueryList(ctx, "id");
        if (ids is null) return WriteBytesAsync(ctx, 200, snapshot.ListBytes(true, s.Options.TagLength, false));
        // Concatenate the rows' cached fragments straight into the response pipe.
        var indexes = snapshot.IndexesByGuids(ids);
        Span<byte> count = stackalloc byte[16];
        indexes.Count.TryFormat(count, out var countLength, default, System.Globalization.CultureInfo.InvariantCulture);
        var length = "{\"total_policies\":"u8.Length + countLength + ",\"policies\":["u8.Length + "]}"u8.Length;
        var fragments = new byte[indexes.Count][];
        for (var k = 0; k < fragments.Length; k++)
        {
            fragments[k] = snapshot.RowJsonWithTags(indexes[k], s.Options.TagLength);
            length += fragments[k].Length + (k > 0 ? 1 : 0);
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = JsonContentType;
        ctx.Response.ContentLength = length;
        var w = ctx.Response.BodyWriter;
        var span = w.GetSpan(length);
        var at = 0;
        Put(span, ref at, "{\"total_policies\":"u8);
        Put(span, ref at, count[..countLength]);
        Put(span, ref at, ",\"policies\":["u8);
        for (var k = 0; k < fragments.Length; k++)
        {
            if (k > 0) span[at++] = (byte)',';
            Put(span, ref at, fragments[k]);
        }
        Put(span, ref at, "]}"u8);
        w.Advance(at);
        var flush = w.FlushAsync(ctx.RequestAborted);
        return flush.IsCompletedSuccessfully ? Task.CompletedTask : flush.AsTask();
    }

    private static void Put(Span<byte> span, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        at += bytes.Length;
    }

    private static async Task LastUpdated(HttpContext ctx, ServerContext s)
    {
        var revs = await s.Store.ReadRevisionsAsync(ctx.RequestAborted);
        await WriteBytesAsync(ctx, 200, System.Text.Encoding.UTF8.GetBytes(revs.PoliciesLastUpdated.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static async Task CreateTag(HttpContext ctx, ServerContext s)
    {
        if (await ReadJsonAsync(ctx, Out.TagRequest, "unmarshal json") is not { } req) return;
        if (string.IsNullOrEmpty(req.Id)) { await ErrorAsync(ctx, 400, "missing id"); return; }
        if (string.IsNullOrEmpty(req.Type)) { await ErrorAsync(ctx, 400, "missing type"); return; }
        try
        {
            var tag = await s.Store.GetOrCreateTagAsync(req.Id, req.Type, ctx.RequestAborted);
            await WriteJsonAsync(ctx, 200, tag, Out.TagEntry);
        }
        catch (TagsExhaustedException e)
        {
            await ErrorAsync(ctx, 500, $"database create failed: {e.Message}");
        }
    }

    // ------------------------------------------------------------------ leases

    private static async Task LeasesIndex(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        var (_, leases) = await s.Cache.LeasesAsync(ctx.RequestAborted);
        var resp = new LeasesResponse { Leases = leases.Active(s.NowUnix, s.LeaseExpirySeconds).Select(l => l.ToContract()).ToList() };
        await WriteJsonAsync(ctx, 200, resp, Out.LeasesResponse);
    }

    private static async Task LeasesAcquire(HttpContext ctx, ServerContext s)
    {
        if (await ReadJsonAsync(ctx, Out.LeaseAcquireRequest, "unmarshal-request") is not { } req) return;
        if (!LeasePool.IsIPv4(req.UnderlayIp))
        {
            await ErrorAsync(ctx, 400, $"invalid underlay ip: '{req.UnderlayIp}' is not an IPv4 address");
            return;
        }
        Lease? lease;
        try
        {
            lease = await s.Store.AcquireLeaseAsync(req.UnderlayIp, req.SingleOverlayIp, ctx.RequestAborted);
        }
        catch (DbException e)
        {
            ServerLog.StoreFailed(s.Log, "acquire lease", e);
            await ErrorAsync(ctx, 500, e.Message);
            return;
        }
        if (lease is null)
        {
            await ErrorAsync(ctx, 409, "no lease available");
            return;
        }
        ServerLog.LeaseAcquired(s.Log, lease.UnderlayIp, lease.OverlaySubnet);
        await WriteJsonAsync(ctx, 200, lease, Out.Lease);
    }

    private static async Task LeasesRenew(HttpContext ctx, ServerContext s)
    {
        if (await ReadJsonAsync(ctx, Out.Lease, "unmarshal-request") is not { } lease) return;
        try
        {
            await s.Store.RenewLeaseAsync(lease, ctx.RequestAborted);
        }
        catch (LeaseConflictException e)
        {
            await ErrorAsync(ctx, 409, $"renew-subnet-lease: {e.Message}");
            return;
        }
        catch (DbException e)
        {
            ServerLog.StoreFailed(s.Log, "renew lease", e);
            await ErrorAsync(ctx, 500, $"renew-subnet-lease: {e.Message}");
            return;
        }
        await WriteEmptyObjectAsync(ctx);
    }

    private static async Task LeasesRelease(HttpContext ctx, ServerContext s)
    {
        if (await ReadJsonAsync(ctx, Out.LeaseReleaseRequest, "unmarshal-request") is not { } req) return;
        try
        {
            await s.Store.ReleaseLeaseAsync(req.UnderlayIp, ctx.RequestAborted);
        }
        catch (DbException e)
        {
            await ErrorAsync(ctx, 500, e.Message);
            return;
        }
        ServerLog.LeaseReleased(s.Log, req.UnderlayIp);
        await WriteEmptyObjectAsync(ctx);
    }

    // ------------------------------------------------------------------ registry

    private static async Task PutCell(HttpContext ctx, ServerContext s)
    {
        var cellId = ctx.Request.RouteValues["cellId"] as string ?? "";
        if (await ReadJsonAsync(ctx, WeftJson.Lenient.CellRegistrationRequest, "unmarshal json") is not { } req) return;
        var error = ValidateRegistration(cellId, req);
        if (error is not null) { await ErrorAsync(ctx, 400, error); return; }
        var rev = await s.Store.PutCellAsync(cellId, req, ctx.RequestAborted);
        await WriteJsonAsync(ctx, 200, new RevisionResponse { Revision = rev }, Out.RevisionResponse);
    }

    internal static string? ValidateRegistration(string cellId, CellRegistrationRequest req)
    {
        if (string.IsNullOrWhiteSpace(cellId) || cellId.Length > 255) return "invalid cell id";
        if (!LeasePool.IsIPv4(req.UnderlayIp)) return $"invalid underlay_ip '{req.UnderlayIp}'";
        req.Containers ??= [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in req.Containers)
        {
            if (c is null) return "null container";
            if (string.IsNullOrEmpty(c.ContainerId)) return "missing container_id";
            if (!seen.Add(c.ContainerId)) return $"duplicate container_id '{c.ContainerId}'";
            if (string.IsNullOrEmpty(c.AppId)) return $"container '{c.ContainerId}': missing app_id";
            if (!LeasePool.IsIPv4(c.Ip)) return $"container '{c.ContainerId}': invalid ip '{c.Ip}'";
            if (c.InstanceIndex < 0) return $"container '{c.ContainerId}': invalid instance_index {c.InstanceIndex}";
            c.Ports ??= [];
            if (c.Ports.Any(p => p is < 1 or > 65535)) return $"container '{c.ContainerId}': ports must be in range 1-65535";
        }
        return null;
    }

    private static async Task DeleteCell(HttpContext ctx, ServerContext s)
    {
        var cellId = ctx.Request.RouteValues["cellId"] as string ?? "";
        var rev = await s.Store.DeleteCellAsync(cellId, ctx.RequestAborted);
        await WriteJsonAsync(ctx, 200, new RevisionResponse { Revision = rev }, Out.RevisionResponse);
    }

    private static async Task Registry(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        var (revs, reg) = await s.Cache.RegistryAsync(ctx.RequestAborted);
        await WriteJsonAsync(ctx, 200, new RegistryResponse { Revision = revs.Revision, Cells = [.. reg.Cells] }, Out.RegistryResponse);
    }

    internal static List<IpOwner> IpMap(RegistrySnapshot reg, PolicySnapshot policies, int tagLength)
    {
        var list = new List<IpOwner>();
        foreach (var cell in reg.Cells)
            foreach (var c in cell.Containers)
                list.Add(new IpOwner
                {
                    Ip = c.Ip,
                    AppId = c.AppId,
                    Tag = policies.TagByApp.TryGetValue(c.AppId, out var t) ? PolicyValidator.FormatTag(t, tagLength) : null,
                    CellId = cell.CellId,
                    ContainerId = c.ContainerId,
                });
        return list;
    }

    private static async Task Ips(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        var (revs, policies, _, reg) = await s.Cache.AllAsync(ctx.RequestAborted);
        await WriteJsonAsync(ctx, 200, new IpsResponse { Revision = revs.Revision, Ips = IpMap(reg, policies, s.Options.TagLength) },
            Out.IpsResponse);
    }

    private static async Task Apps(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        var (_, policies, _, reg) = await s.Cache.AllAsync(ctx.RequestAborted);
        var apps = new Dictionary<string, AppInfo>(StringComparer.Ordinal);
        AppInfo Get(string id) => apps.TryGetValue(id, out var a) ? a : apps[id] = new AppInfo
        {
            Id = id,
            Tag = policies.TagByApp.TryGetValue(id, out var t) ? PolicyValidator.FormatTag(t, s.Options.TagLength) : null,
        };
        foreach (var cell in reg.Cells)
            foreach (var c in cell.Containers)
            {
                var a = Get(c.AppId);
                a.Name ??= c.AppName;
                a.SpaceId ??= c.SpaceId;
                a.Instances.Add(new AppInstance { ContainerId = c.ContainerId, InstanceIndex = c.InstanceIndex, Ip = c.Ip, CellId = cell.CellId, Ports = c.Ports });
            }
        foreach (var app in policies.TagByApp.Keys) Get(app);
        IEnumerable<AppInfo> result = apps.Values;
        if (QueryList(ctx, "name") is { } names) result = result.Where(a => a.Name is not null && names.Contains(a.Name));
        if (QueryList(ctx, "id") is { } ids) result = result.Where(a => ids.Contains(a.Id));
        var list = result.OrderBy(a => a.Name ?? "\uffff", StringComparer.Ordinal).ThenBy(a => a.Id, StringComparer.Ordinal).ToList();
        foreach (var a in list) a.Instances.Sort((x, y) => x.InstanceIndex.CompareTo(y.InstanceIndex));
        await WriteJsonAsync(ctx, 200, new AppsResponse { Apps = list }, Out.AppsResponse);
    }

    // ------------------------------------------------------------------ watch and snapshot

    /// <summary>Parses "30s", "500ms", "2m" or a number of seconds.</summary>
    internal static TimeSpan? ParseTimeout(string? s)
    {
        if (string.IsNullOrEmpty(s)) return TimeSpan.FromSeconds(30);
        double v;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (s.EndsWith("ms", StringComparison.Ordinal) && double.TryParse(s[..^2], inv, out v)) return TimeSpan.FromMilliseconds(v);
        if (s.EndsWith('s') && double.TryParse(s[..^1], inv, out v)) return TimeSpan.FromSeconds(v);
        if (s.EndsWith('m') && double.TryParse(s[..^1], inv, out v)) return TimeSpan.FromMinutes(v);
        if (double.TryParse(s, inv, out v)) return TimeSpan.FromSeconds(v);
        return null;
    }

    private static async Task Watch(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        long since = 0;
        if (ctx.Request.Query.TryGetValue("since", out var sv) && !long.TryParse(sv[0], out since))
        {
            await ErrorAsync(ctx, 400, "since must be a revision number");
            return;
        }
        var timeout = ParseTimeout(ctx.Request.Query["timeout"]);
        if (timeout is null || timeout < TimeSpan.Zero)
        {
            await ErrorAsync(ctx, 400, "timeout must be a duration such as 30s or 500ms");
            return;
        }
        if (timeout > TimeSpan.FromMinutes(5)) timeout = TimeSpan.FromMinutes(5);
        IReadOnlyCollection<string> kinds = WatchKinds.All;
        if (QueryList(ctx, "kinds") is { } k)
        {
            var bad = k.FirstOrDefault(x => !WatchKinds.All.Contains(x));
            if (bad is not null) { await ErrorAsync(ctx, 400, $"unknown kind '{bad}' (kinds: policies, leases, registry)"); return; }
            kinds = k;
        }
        // Make sure the notifier is current (PostgreSQL without a working LISTEN connection: read the database).
        await s.Store.ReadRevisionsAsync(ctx.RequestAborted);
        var (revs, changed) = await s.Store.Notifier.WaitAsync(since, kinds, timeout.Value, ctx.RequestAborted);
        if (ctx.RequestAborted.IsCancellationRequested) return;
        await WriteBytesAsync(ctx, 200, WatchAnswer.For(revs.Revision, changed));
    }

    /// <summary>
    /// The serialised watch answer, shared by every watcher woken by the same commit (the last
    /// answer is kept; a commit wakes all watchers with the same revision and mostly the same kinds).
    /// </summary>
    private sealed record WatchAnswer(long Revision, int Mask, byte[] Bytes)
    {
        private static WatchAnswer? _last;

        public static byte[] For(long revision, List<string> changed)
        {
            var mask = 0;
            foreach (var k in changed) mask |= k switch { WatchKinds.Policies => 1, WatchKinds.Leases => 2, _ => 4 } << (changed.IndexOf(k) * 3);
            if (Volatile.Read(ref _last) is { } last && last.Revision == revision && last.Mask == mask) return last.Bytes;
            var bytes = JsonSerializer.SerializeToUtf8Bytes(new WatchResponse { Revision = revision, Changed = changed }, Out.WatchResponse);
            Volatile.Write(ref _last, new WatchAnswer(revision, mask, bytes));
            return bytes;
        }
    }

    private static async Task Snapshot(HttpContext ctx, ServerContext s)
    {
        if (!await AllowedAsync(ctx, s)) return;
        var (revs, policies, leases, reg) = await s.Cache.AllAsync(ctx.RequestAborted);
        var ids = QueryList(ctx, "app_ids");
        var now = s.NowUnix;
        var bytes = PolicyJson.ToBytes(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("revision"u8, revs.Revision);
            w.WritePropertyName("policies"u8);
            if (ids is null)
            {
                // The cached list's array, as is.
                var list = policies.ListBytes(true, s.Options.TagLength, false);
                w.WriteRawValue(list.AsSpan(list.AsSpan().IndexOf((byte)'[')..^1), skipInputValidation: true);
            }
            else
            {
                w.WriteStartArray();
                foreach (var i in policies.IndexesByGuids(ids)) w.WriteRawValue(policies.RowJsonWithTags(i, s.Options.TagLength), skipInputValidation: true);
                w.WriteEndArray();
            }
            w.WritePropertyName("leases"u8);
            JsonSerializer.Serialize(w, leases.Active(now, s.LeaseExpirySeconds).Select(l => l.ToContract()).ToList(), Out.ListLease);
            w.WritePropertyName("cells"u8);
            JsonSerializer.Serialize(w, reg.Cells.ToList(), Out.ListCellRegistration);
            w.WritePropertyName("ips"u8);
            JsonSerializer.Serialize(w, IpMap(reg, policies, s.Options.TagLength), Out.ListIpOwner);
            w.WriteEndObject();
        });
        await WriteBytesAsync(ctx, 200, bytes);
    }
}
