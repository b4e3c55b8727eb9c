using System.Globalization;
using System.Text;

namespace Weft.Agent.Runtime;

/// <summary>A tiny Prometheus text-format registry: counters, gauges and fixed-bucket histograms.</summary>
public sealed class AgentMetrics
{
    private static readonly double[] Buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, (string Type, string Help)> _meta = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long[] Counts, double Sum, long Count)> _hist = new(StringComparer.Ordinal);

    public AgentMetrics()
    {
        Describe("weft_agent_change_to_applied_seconds", "histogram", "Time from a change being seen (watch event, container record) to the table applied.");
        Describe("weft_agent_nft_apply_seconds", "histogram", "Time of one nftables transaction, by kind (delta or full).");
        Describe("weft_agent_watch_lag_seconds", "histogram", "Time from the watch returning to the new snapshot being in memory.");
        Describe("weft_agent_nft_applies_total", "counter", "nftables transactions applied, by kind.");
        Describe("weft_agent_nft_apply_failures_total", "counter", "nftables transactions refused.");
        Describe("weft_agent_nft_elements", "gauge", "Elements in the sets and maps of inet weft.");
        Describe("weft_agent_policies", "gauge", "Policies known (cluster-wide).");
        Describe("weft_agent_leases", "gauge", "Active leases known (cluster-wide).");
        Describe("weft_agent_local_containers", "gauge", "Container records on this cell.");
        Describe("weft_agent_conflicting_container_addresses", "gauge", "Local addresses named by container records whose apps send with different tags (a stale record): untagged and closed to policies until one record goes.");
        Describe("weft_agent_skipped_container_records", "gauge", "Container records skipped as unreadable or invalid (bad IP, host veth, app id) in the last pass.");
        Describe("weft_agent_skipped_policies", "gauge", "Policies skipped as invalid in the last pass.");
        Describe("weft_agent_skipped_port_mappings", "gauge", "Port mappings skipped as invalid or duplicate in the last pass.");
        Describe("weft_agent_revision", "gauge", "Server revision of the state enforced.");
        Describe("weft_agent_server_reachable", "gauge", "1 when the last call to the server succeeded.");
        Describe("weft_agent_overlay_changes_total", "counter", "Overlay entries added or removed, by op.");
        Describe("weft_agent_overlay_errors_total", "counter", "Overlay kernel operations that failed.");
        Describe("weft_agent_renew_failures_total", "counter", "Lease renewals that failed.");
        Describe("weft_agent_watch_errors_total", "counter", "Watch or snapshot calls that failed.");
        Describe("weft_agent_registry_reports_total", "counter", "Container sets reported to the server's registry.");
        Describe("weft_agent_skipped_ports", "gauge", "Metadata ports outside 1-65535 (not opened to the router) in the last pass.");
        Describe("weft_agent_container_events_total", "counter", "Container record events (inotify on containers/, datagrams on agent.sock).");
        Describe("weft_agent_router_tag_errors_total", "counter", "Failed requests for the overlay ingress router's tag (the last one is kept).");
    }

    private void Describe(string name, string type, string help) => _meta[name] = (type, help);

    public void Inc(string name, double by = 1, string? labels = null)
    {
        lock (_lock) { var k = Key(name, labels); _values[k] = _values.GetValueOrDefault(k) + by; }
    }

    public void Set(string name, double value, string? labels = null)
    {
        lock (_lock) _values[Key(name, labels)] = value;
    }

    public void Observe(string name, TimeSpan t, string? labels = null) => Observe(name, t.TotalSeconds, labels);

    public void Observe(string name, double seconds, string? labels = null)
    {
        lock (_lock)
        {
            var k = Key(name, labels);
            if (!_hist.TryGetValue(k, out var h)) h = (new long[Buckets.Length], 0, 0);
            for (var i = 0; i < Buckets.Length; i++) if (seconds <= Buckets[i]) h.Counts[i]++;
            _hist[k] = (h.Counts, h.Sum + seconds, h.Count + 1);
        }
    }

    public double Get(string name, string? labels = null)
    {
        lock (_lock) return _values.GetValueOrDefault(Key(name, labels));
    }

    public long HistogramCount(string name, string? labels = null)
    {
        lock (_lock) return _hist.TryGetValue(Key(name, labels), out var h) ? h.Count : 0;
    }

    private static string Key(string name, string? labels) => labels is null ? name : $"{name}{{{labels}}}";

    public string Render()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        lock (_lock)
        {
            foreach (var (name, (type, help)) in _meta)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
                if (type == "histogram")
                {
                    foreach (var (k, h) in _hist.Where(x => x.Key == name || x.Key.StartsWith(name + "{", StringComparison.Ordinal)).OrderBy(x => x.Key, StringComparer.Ordinal))
                    {
                        var labels = k.Length > name.Length ? k[(name.Length + 1)..^1] + "," : "";
                        for (var i = 0; i < Buckets.Length; i++)
                            sb.Append(name).Append("_bucket{").Append(labels).Append("le=\"").Append(Buckets[i].ToString(inv)).Append("\"} ").Append(h.Counts[i]).Append('\n');
                        sb.Append(name).Append("_bucket{").Append(labels).Append("le=\"+Inf\"} ").Append(h.Count).Append('\n');
                        var suffix = labels.Length > 0 ? "{" + labels.TrimEnd(',') + "}" : "";
                        sb.Append(name).Append("_sum").Append(suffix).Append(' ').Append(h.Sum.ToString("R", inv)).Append('\n');
                        sb.Append(name).Append("_count").Append(suffix).Append(' ').Append(h.Count).Append('\n');
                    }
                }
                else
                {
                    var any = false;
                    foreach (var (k, v) in _values.Where(x => x.Key == name || x.Key.StartsWith(name + "{", StringComparison.Ordinal)).OrderBy(x => x.Key, StringComparer.Ordinal))
                    {
                        sb.Append(k).Append(' ').Append(v.ToString("R", inv)).Append('\n');
                        any = true;
                    }
                    if (!any) sb.Append(name).Append(" 0\n");
                }
            }
        }
        return sb.ToString();
    }
}
