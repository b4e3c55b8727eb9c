using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Weft.Common;
using Weft.Server.Http;
using Weft.Server.Leases;
using Weft.Server.Security;
using Weft.Server.Storage;

namespace Weft.Server.Hosting;

/// <summary>
/// A running weft-server: two Kestrel listeners (external API, plain HTTP or TLS; internal API,
/// mutual TLS against the platform CA) over one store. Used by Program and by the tests.
/// </summary>
public sealed class WeftServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private Task? _cleanup;

    public ServerContext Context { get; }
    public IStore Store => Context.Store;
    public int ExternalPort { get; private set; }
    public int InternalPort { get; private set; }
    public Uri ExternalUri { get; private set; } = null!;
    public Uri InternalUri { get; private set; } = null!;

    private WeftServerHost(WebApplication app, ServerContext context)
    {
        _app = app;
        Context = context;
    }

    /// <summary>Opens the store (migrating it), binds both listeners and starts serving.</summary>
    public static async Task<WeftServerHost> StartAsync(ServerOptions o, Action<ILoggingBuilder>? logging = null, TimeProvider? time = null,
        CancellationToken ct = default)
    {
        o.Validate();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logging is not null) logging(builder.Logging);
        else if (o.LogFormat == "simple") builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss.fff "; });
        else builder.Logging.AddJsonConsole(c => { c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; c.UseUtcTimestamp = true; });
        if (Enum.TryParse<LogLevel>(o.LogLevel, true, out var level)) builder.Logging.SetMinimumLevel(level);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

        var serverCert = Certificates.LoadPem(o.InternalCert, o.InternalKey);
        var ca = Certificates.LoadCertificate(o.ClientCa);
        var externalCert = o.ExternalTlsCert is not null ? Certificates.LoadPem(o.ExternalTlsCert, o.ExternalTlsKey!) : null;

        ListenOptions? ext = null, intl = null;
        ILogger? log = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = HttpUtil.MaxDrainBytes;
            k.Listen(ParseAddress(o.ExternalAddress), o.ExternalPort, lo =>
            {
                ext = lo;
                lo.Protocols = HttpProtocols.Http1AndHttp2;
                if (externalCert is not null) lo.UseHttps(externalCert);
                else lo.Protocols = HttpProtocols.Http1;
            });
            k.Listen(ParseAddress(o.InternalAddress), o.InternalPort, lo =>
            {
                intl = lo;
                lo.Protocols = HttpProtocols.Http1AndHttp2;
                // Mutual TLS: the client certificate is required and its chain is built once, by
                // SslStream, against the platform CA only (no system roots, no downloads).
                var certContext = SslStreamCertificateContext.Create(serverCert, additionalCertificates: null, offline: true);
                var chainPolicy = Certificates.ClientChainPolicy(ca);
                lo.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = certContext,
                        ClientCertificateRequired = true,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        CertificateChainPolicy = chainPolicy.Clone(),
                        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
                        RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
                        {
                            var ok = cert is not null && Certificates.IsTrustedByPolicy(chain, errors, ca);
                            if (!ok && log is not null) ServerLog.ClientCertRejected(log, cert?.Subject ?? "(none)");
                            return ok;
                        },
                    }),
                });
            });
        });
        builder.Services.AddRouting();

        var app = builder.Build();
        log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("weft-server");
        var pool = new LeasePool(o.OverlayNetwork, o.SubnetPrefixLength);
        var settings = new StoreSettings(pool, TimeSpan.FromHours(o.LeaseExpirationHours), o.TagLength);
        var storeLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("weft-server.store");
        IStore store = o.DatabaseEngine == DbEngine.Sqlite
            ? SqlStore.Sqlite(o.SqlitePath, settings, time, storeLog)
            : SqlStore.Postgres(o.PostgresConnectionString!, settings, time, storeLog);
        await store.InitializeAsync(ct);

        var context = new ServerContext
        {
            Options = o,
            Store = store,
            Cache = new StateCache(store),
            Tokens = new TokenStore(o.TokensFile),
            Metrics = new ServerMetrics(),
            Log = log,
            Time = time ?? TimeProvider.System,
        };
        context.Metrics.AddStateGauges(context);
        var host = new WeftServerHost(app, context);
        Configure(app, context, o);

        await app.StartAsync(ct);
        host.ExternalPort = ext!.IPEndPoint!.Port;
        host.InternalPort = intl!.IPEndPoint!.Port;
        context.InternalPort = host.InternalPort;
        var extHost = HostFor(o.ExternalAddress);
        var intHost = HostFor(o.InternalAddress);
        host.ExternalUri = new Uri($"{(externalCert is null ? "http" : "https")}://{extHost}:{host.ExternalPort}/");
        host.InternalUri = new Uri($"https://{intHost}:{host.InternalPort}/");
        ServerLog.Started(log, host.ExternalUri.ToString(), host.InternalUri.ToString(), store.Engine.ToString());
        if (o.PolicyCleanupIntervalMinutes > 0) host._cleanup = Task.Run(() => host.CleanupLoopAsync(host._stop.Token));
        // Warm the views so the first agent read does not pay for the load.
        await context.Cache.AllAsync(ct);
        return host;
    }

    private static string HostFor(string address) => address switch
    {
        "0.0.0.0" or "::" or "*" or "" => "127.0.0.1",
        var a when a.Contains(':') => $"[{a}]",
        var a => a,
    };

    private static IPAddress ParseAddress(string a) => a switch
    {
        "" or "*" or "0.0.0.0" => IPAddress.Any,
        "::" => IPAddress.IPv6Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.TryParse(a, out var ip) ? ip : throw new InvalidOperationException($"listen address '{a}' is not an IP address"),
    };

    private static void Configure(WebApplication app, ServerContext s, ServerOptions o)
    {
        var tls = o.ExternalTlsCert is not null;
        var cors = o.CorsAllowedOrigins.ToHashSet(StringComparer.Ordinal);
        app.UseRouting();
        app.Use(async (ctx, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            var endpoint = ctx.GetEndpoint();
            var route = endpoint?.Metadata.GetMetadata<RouteLabel>()?.Name ?? "unmatched";
            var onInternal = ctx.Connection.LocalPort == s.InternalPort;
            if (!onInternal)
            {
                // CF's security headers on every external response.
                var h = ctx.Response.Headers;
                h["X-XSS-Protection"] = "1; mode=block";
                h.XContentTypeOptions = "nosniff";
                h.XFrameOptions = "deny";
                h.ContentSecurityPolicy = "frame-ancestors 'none'";
                if (tls) h.StrictTransportSecurity = "max-age=31536000";
                if (ctx.Request.Headers.Origin is { Count: > 0 } origin && cors.Contains(origin[0]!))
                {
                    h.AccessControlAllowOrigin = origin[0];
                    h.AccessControlAllowHeaders = "authorization";
                }
            }
            try
            {
                var surface = endpoint?.Metadata.GetMetadata<ApiSurface>();
                if (surface is not null && !(onInternal ? surface.Internal : surface.External))
                {
                    ctx.SetEndpoint(null);
                    ctx.Response.StatusCode = 404;
                    route = "unmatched";
                    return;
                }
                if (onInternal && ctx.Connection.ClientCertificate is null)
                {
                    // Kestrel requires and verifies the certificate at the handshake; this cannot happen, but never serve without one.
                    ctx.Response.StatusCode = 403;
                    return;
                }
                await next(ctx);
            }
            finally
            {
                var code = ctx.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
                s.Metrics.Requests.Inc(route, code);
                s.Metrics.Latency.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds, route);
                if (ctx.Response.StatusCode >= 400) s.Metrics.Errors.Inc(route, code);
            }
        });

        ExternalApi.Map(app, s);
        InternalApi.Map(app, s);
        app.MapGet("/metrics", async ctx =>
            {
                await s.Cache.AllAsync(ctx.RequestAborted); // gauges read the current views
                await HttpUtil.WriteBytesAsync(ctx, 200, System.Text.Encoding.UTF8.GetBytes(s.Metrics.Registry.Render()), MetricsRegistry.ContentType);
            })
            .WithMetadata(new RouteLabel("Metrics")).WithMetadata(ApiSurface.Both);
        app.MapGet("/openapi.json", ctx => HttpUtil.WriteBytesAsync(ctx, 200, OpenApi.Document.Value))
            .WithMetadata(new RouteLabel("OpenApi")).WithMetadata(ApiSurface.Both);
    }

    private async Task CleanupLoopAsync(CancellationToken ct)
    {
        var interval = TimeSpan.FromMinutes(Context.Options.PolicyCleanupIntervalMinutes);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, ct);
                var deleted = await Store.CleanupStalePoliciesAsync(TimeSpan.FromMinutes(Context.Options.StaleAppAfterMinutes), ct);
                if (deleted.Count > 0) ServerLog.CleanupDeleted(Context.Log, deleted.Count);
            }
            catch (OperationCanceledException) { return; }
            catch (Exception e) { ServerLog.CleanupFailed(Context.Log, e); }
        }
    }

    /// <summary>Runs until the host is stopped (SIGTERM/SIGINT).</summary>
    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_cleanup is not null) { try { await _cleanup; } catch { } }
        try { await _app.StopAsync(TimeSpan.FromSeconds(5)); } catch { }
        await _app.DisposeAsync();
        await Store.DisposeAsync();
        _stop.Dispose();
    }
}
