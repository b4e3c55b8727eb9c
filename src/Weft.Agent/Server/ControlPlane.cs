using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Weft.Agent.Overlay;
using Weft.Agent.Policy;

namespace Weft.Agent.Server;

/// <summary>Everything the agent needs from weft-server, as of one revision.</summary>
public sealed record ClusterSnapshot(long Revision, IReadOnlyList<PolicyRule> Policies, IReadOnlyList<Lease> Leases);

/// <summary>The server said the lease is not ours (409): another cell holds it or it is invalid.</summary>
public sealed class LeaseConflictException(string message) : Exception(message);

/// <summary>What the agent needs from the control plane (the internal mTLS API of weft-server).</summary>
public interface IControlPlane
{
    Task<Lease> AcquireLeaseAsync(IPAddress underlayIp, CancellationToken ct);
    /// <exception cref="LeaseConflictException">the server refuses the lease (409).</exception>
    Task RenewLeaseAsync(Lease lease, CancellationToken ct);
    Task ReleaseLeaseAsync(IPAddress underlayIp, CancellationToken ct);
    Task<ClusterSnapshot> SnapshotAsync(CancellationToken ct);
    /// <summary>Long-poll: returns when the revision passes <paramref name="since"/> or after <paramref name="timeout"/>.</summary>
    Task<(long Revision, IReadOnlyList<string> Changed)> WatchAsync(long since, TimeSpan timeout, CancellationToken ct);
    Task RegisterAsync(string cellId, IPAddress underlayIp, IReadOnlyList<LocalContainer> containers, CancellationToken ct);
    /// <summary>Get-or-create the tag of a non-app group (CF: <c>PUT /networking/v1/internal/tags</c>,
    /// e.g. <c>{"id":"INGRESS_ROUTER","type":"router"}</c>); returns its number.</summary>
    Task<int> GetOrCreateTagAsync(string id, string type, CancellationToken ct);
}

/// <summary>
/// weft-server's internal API over mutual TLS: the agent presents its client certificate and trusts
/// only the platform CA (custom root trust, no system roots).
/// Paths: PUT /weft/v1/leases/{acquire,renew,release}, GET /weft/v1/snapshot, GET /weft/v1/watch?since=N&amp;timeout=30s,
/// PUT /weft/v1/registry/cells/{cellId}. JSON is snake_case (Silk lease shape).
/// </summary>
public sealed class HttpControlPlane : IControlPlane, IDisposable
{
    private readonly NamePool _names = new();
    private readonly HttpClient _http;

    public HttpControlPlane(Uri baseUri, string caFile, string certFile, string keyFile)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
        var client = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        // Ephemeral PEM keys cannot be used by SslStream on all platforms: round-trip through PKCS#12.
        client = X509CertificateLoader.LoadPkcs12(client.Export(X509ContentType.Pkcs12), null);
        var handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [client],
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (cert is null) return false;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    // Name mismatch is checked by the chain's SANs only when the URL host is in them.
                    return chain.Build(new X509Certificate2(cert)) && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                },
            },
        };
        _http = new HttpClient(handler) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
    }

    public void Dispose() => _http.Dispose();

    public async Task<Lease> AcquireLeaseAsync(IPAddress underlayIp, CancellationToken ct)
    {
        using var doc = await SendAsync(HttpMethod.Put, "/weft/v1/leases/acquire", $"{{\"underlay_ip\":\"{underlayIp}\"}}", ct);
        return ParseLease(doc.RootElement);
    }

    public async Task RenewLeaseAsync(Lease lease, CancellationToken ct)
    {
        try
        {
            using var _ = await SendAsync(HttpMethod.Put, "/weft/v1/leases/renew", LeaseJson(lease), ct);
        }
        catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
            throw new LeaseConflictException(e.Message);
        }
    }

    public async Task ReleaseLeaseAsync(IPAddress underlayIp, CancellationToken ct)
    {
        using var _ = await SendAsync(HttpMethod.Put, "/weft/v1/leases/release", $"{{\"underlay_ip\":\"{underlayIp}\"}}", ct);
    }

    public async Task<ClusterSnapshot> SnapshotAsync(CancellationToken ct)
    {
        using var doc = await SendAsync(HttpMethod.Get, "/weft/v1/snapshot", null, ct);
        return WireFormat.ParseSnapshot(doc.RootElement, _names);
    }

    public async Task<(long, IReadOnlyList<string>)> WatchAsync(long since, TimeSpan timeout, CancellationToken ct)
    {
        using var doc = await SendAsync(HttpMethod.Get, $"/weft/v1/watch?since={since}&timeout={(int)timeout.TotalMilliseconds}ms", null, ct);
        var r = doc.RootElement;
        var changed = r.TryGetProperty("changed", out var c) && c.ValueKind == JsonValueKind.Array
            ? c.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
        return (r.GetProperty("revision").GetInt64(), changed);
    }

    public async Task RegisterAsync(string cellId, IPAddress underlayIp, IReadOnlyList<LocalContainer> containers, CancellationToken ct)
    {
        using var _ = await SendAsync(HttpMethod.Put, $"/weft/v1/registry/cells/{Uri.EscapeDataString(cellId)}",
            WireFormat.RegistrationJson(underlayIp, containers), ct);
    }

    public async Task<int> GetOrCreateTagAsync(string id, string type, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("type", type);
            w.WriteEndObject();
        }
        using var doc = await SendAsync(HttpMethod.Put, "/networking/v1/internal/tags", Encoding.UTF8.GetString(ms.ToArray()), ct);
        var tag = PolicyCompiler.ParseTag(doc.RootElement.TryGetProperty("tag", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null);
        return tag != 0 ? tag : throw new FormatException($"the server returned no valid tag for {id}");
    }

    private async Task<JsonDocument> SendAsync(HttpMethod method, string path, string? body, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        var bytes = await resp.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{method} {path}: {(int)resp.StatusCode} {Encoding.UTF8.GetString(bytes)}", null, resp.StatusCode);
        }
        return bytes.Length == 0 ? JsonDocument.Parse("{}") : JsonDocument.Parse(bytes);
    }

    internal static Lease ParseLease(JsonElement e) => WireFormat.ParseLease(e);

    private static string LeaseJson(Lease l) =>
        $"{{\"underlay_ip\":\"{l.UnderlayIp}\",\"overlay_subnet\":\"{l.Subnet}\",\"overlay_hardware_addr\":\"{l.VtepMac}\"}}";
}

/// <summary>The server's JSON (snake_case, CF/Silk shapes) to and from the agent's model.</summary>
public static class WireFormat
{
    public static Lease ParseLease(JsonElement e) => new(
        IPAddress.Parse(e.GetProperty("underlay_ip").GetString()!),
        IPNetwork.Parse(e.GetProperty("overlay_subnet").GetString()!),
        e.TryGetProperty("overlay_hardware_addr", out var m) ? m.GetString() ?? "" : "");

    /// <param name="names">Keeps one string per app id and protocol across snapshots: equal names are
    /// then the same object, so comparing a new snapshot with the last one (see
    /// <see cref="IncrementalTable"/>) compares references, and parsing allocates no string for a name seen before.</param>
    public static ClusterSnapshot ParseSnapshot(JsonElement r, NamePool? names = null)
    {
        names?.BeginSnapshot();
        var policies = new List<PolicyRule>();
        if (r.TryGetProperty("policies", out var ps) && ps.ValueKind == JsonValueKind.Array)
        {
            foreach (var p in ps.EnumerateArray())
            {
                var src = p.GetProperty("source");
                var dst = p.GetProperty("destination");
                int start, end;
                if (dst.TryGetProperty("ports", out var ports) && ports.ValueKind == JsonValueKind.Object)
                {
                    start = ports.GetProperty("start").GetInt32();
                    end = ports.GetProperty("end").GetInt32();
                }
                else
                {
                    start = end = dst.TryGetProperty("port", out var port) ? port.GetInt32() : 0;
                }
                policies.Add(new PolicyRule(Name(src.GetProperty("id"), names), PolicyCompiler.ParseTag(Str(src, "tag")),
                    Name(dst.GetProperty("id"), names), PolicyCompiler.ParseTag(Str(dst, "tag")),
                    dst.TryGetProperty("protocol", out var proto) ? Name(proto, names) : "", start, end));
            }
        }
        var leases = new List<Lease>();
        if (r.TryGetProperty("leases", out var ls) && ls.ValueKind == JsonValueKind.Array)
        {
            foreach (var l in ls.EnumerateArray())
            {
                try { leases.Add(ParseLease(l)); }
                catch (FormatException) { }
            }
        }
        return new ClusterSnapshot(r.TryGetProperty("revision", out var rev) ? rev.GetInt64() : 0, policies, leases);
    }

    public static string RegistrationJson(IPAddress underlayIp, IReadOnlyList<LocalContainer> containers)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("underlay_ip", underlayIp.ToString());
            w.WriteStartArray("containers");
            foreach (var c in containers.OrderBy(c => c.ContainerId, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("container_id", c.ContainerId);
                w.WriteString("app_id", c.AppId);
                if (c.AppName is not null) w.WriteString("app_name", c.AppName);
                if (c.SpaceId is not null) w.WriteString("space_id", c.SpaceId);
                if (c.OrgId is not null) w.WriteString("org_id", c.OrgId);
                w.WriteNumber("instance_index", c.InstanceIndex ?? 0);
                w.WriteString("ip", c.Ip.ToString());
                w.WriteStartArray("ports");
                foreach (var p in c.Ports) w.WriteNumberValue(p);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string Name(JsonElement e, NamePool? names) =>
        e.ValueKind != JsonValueKind.String ? "" : names is null ? e.GetString() ?? "" : names.Get(e);

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// Strings seen in the last snapshots (app ids, protocols), so that equal names parse to the same
/// object. Bounded: names not seen in the last two snapshots are dropped. Not thread-safe (one watch loop).
/// </summary>
public sealed class NamePool
{
    private Dictionary<string, string> _current = new(StringComparer.Ordinal);
    private Dictionary<string, string> _previous = new(StringComparer.Ordinal);

    /// <summary>Starts a snapshot: names of the one before the last are forgotten.</summary>
    public void BeginSnapshot()
    {
        if (_current.Count == 0) return;
        (_previous, _current) = (_current, _previous);
        _current.Clear();
    }

    /// <summary>The string value of <paramref name="e"/> (a JSON string), as the pooled object when seen before.</summary>
    public string Get(JsonElement e)
    {
        var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e); // with its quotes
        if (raw.Length < 2 || raw[0] != (byte)'"' || raw[^1] != (byte)'"') return Add(e.GetString() ?? "");
        raw = raw[1..^1];
        if (raw.Length > 256 || raw.IndexOf((byte)'\\') >= 0) return Add(e.GetString() ?? "");
        Span<char> chars = stackalloc char[256];
        if (!Encoding.UTF8.TryGetChars(raw, chars, out var n)) return Add(e.GetString() ?? "");
        var key = chars[..n];
        if (_current.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out var s)) return s;
        if (_previous.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out s)) return _current[s] = s;
        return Add(new string(key));
    }

    private string Add(string s)
    {
        if (_current.TryGetValue(s, out var pooled)) return pooled;
        if (_previous.TryGetValue(s, out pooled)) return _current[pooled] = pooled;
        return _current[s] = s;
    }
}
