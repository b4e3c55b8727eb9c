using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Weft.Common;
using Weft.Server.Security;
using Weft.Server.Storage;

namespace Weft.Server.Http;

/// <summary>Everything the handlers share: options, store, cache, tokens, metrics, the bound ports.</summary>
public sealed class ServerContext
{
    public required ServerOptions Options { get; init; }
    public required IStore Store { get; init; }
    public required StateCache Cache { get; init; }
    public required TokenStore Tokens { get; init; }
    public required ServerMetrics Metrics { get; init; }
    public required ILogger Log { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public long StartTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>The internal listener's bound port (known once the server started).</summary>
    public int InternalPort { get; set; } = -1;

    public long LeaseExpirySeconds => (long)TimeSpan.FromHours(Options.LeaseExpirationHours).TotalSeconds;
    public long NowUnix => Time.GetUtcNow().ToUnixTimeSeconds();
}

/// <summary>The Prometheus metrics weft-server exposes on /metrics.</summary>
public sealed class ServerMetrics
{
    public MetricsRegistry Registry { get; } = new();
    public Counter Requests { get; }
    public Histogram Latency { get; }
    public Counter Errors { get; }

    public ServerMetrics()
    {
        Requests = Registry.CreateCounter("weft_http_requests_total", "HTTP requests by route and status code.", "route", "code");
        Latency = Registry.CreateHistogram("weft_http_request_duration_seconds", "HTTP request latency by route.", null, "route");
        Errors = Registry.CreateCounter("weft_http_errors_total", "Error responses (CF's http_error) by route and status code.", "route", "code");
    }

    public void AddStateGauges(ServerContext s)
    {
        Registry.CreateGaugeCallback("weft_policies", "Policies stored (as of the last loaded view).", () => s.Cache.LastPolicies?.Rows.Length ?? 0);
        Registry.CreateGaugeCallback("weft_tags", "Apps holding a tag because they are in a policy.", () => s.Cache.LastPolicies?.TagByApp.Count ?? 0);
        Registry.CreateGaugeCallback("weft_leases_active", "Active subnet leases (as of the last loaded view).",
            () => s.Cache.LastLeases?.Active(s.NowUnix, s.LeaseExpirySeconds).Count() ?? 0);
        Registry.CreateGaugeCallback("weft_leases_stored", "Stored subnet leases, expired included.", () => s.Cache.LastLeases?.Rows.Length ?? 0);
        Registry.CreateGaugeCallback("weft_watchers", "Watch requests currently waiting.", () => s.Store.Notifier.Waiters);
        Registry.CreateGaugeCallback("weft_revision", "The last committed revision this replica knows.", () => s.Store.Notifier.Current.Revision);
        Registry.CreateGaugeCallback("weft_uptime_seconds", "Seconds since start.", () => Stopwatch.GetElapsedTime(s.StartTimestamp).TotalSeconds);
    }
}
