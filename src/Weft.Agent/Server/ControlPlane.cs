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
        var bytes = await SendForBytesAsync(HttpMethod.Get, "/weft/v1/snapshot", null, ct);
        return WireFormat.ParseSnapshot(bytes, _names);
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
        var bytes = await SendForBytesAsync(method, path, body, ct).ConfigureAwait(false);
        return bytes.Length == 0 ? JsonDocument.Parse("{}") : JsonDocument.Parse(bytes);
    }

    /// <summary>The answer's body; a non-success status throws <see cref="HttpRequestException"/> with it.</summary>
    private async Task<byte[]> SendForBytesAsync(HttpMethod method, string path, string? body, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        var bytes = await resp.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{method} {path}: {(int)resp.StatusCode} {Encoding.UTF8.GetString(bytes)}", null, resp.StatusCode);
        }
        return bytes;
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

    /// <summary>A snapshot already parsed into a <see cref="JsonDocument"/> (tests); the same parse as the bytes overload.</summary>
    public static ClusterSnapshot ParseSnapshot(JsonElement r, NamePool? names = null) =>
        ParseSnapshot(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(r), names);

    /// <summary>
    /// The server's snapshot (<c>GET /weft/v1/snapshot</c>) in one forward pass over its UTF-8 bytes: no
    /// document is built, a name seen before allocates nothing. Unknown properties are skipped; a policy
    /// without <c>source</c> or <c>destination</c>, or with a malformed port, fails the whole snapshot
    /// (<see cref="FormatException"/> or <see cref="JsonException"/>: the agent keeps what it enforces); a
    /// lease that does not parse is left out.
    /// </summary>
    /// <param name="names">Keeps one string per app id and protocol across snapshots: equal names are
    /// then the same object, so comparing a new snapshot with the last one (see
    /// <see cref="IncrementalTable"/>) compares references, and parsing allocates no string for a name seen before.</param>
    public static ClusterSnapshot ParseSnapshot(ReadOnlySpan<byte> utf8, NamePool? names = null)
    {
        names?.BeginSnapshot();
        var r = new Utf8JsonReader(utf8);
        long revision = 0;
        var policies = new List<PolicyRule>();
        var leases = new List<Lease>();
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new FormatException("snapshot: not a JSON object");
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("revision"u8))
            {
                r.Read();
                revision = r.TokenType == JsonTokenType.Number ? r.GetInt64() : 0;
            }
            else if (r.ValueTextEquals("policies"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartArray) { r.Skip(); continue; }
                while (r.Read() && r.TokenType != JsonTokenType.EndArray) policies.Add(ReadPolicy(ref r, names));
            }
            else if (r.ValueTextEquals("leases"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartArray) { r.Skip(); continue; }
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    if (ReadLease(ref r) is { } lease) leases.Add(lease);
                }
            }
            else
            {
                r.Read();
                r.Skip();
            }
        }
        return new ClusterSnapshot(revision, policies, leases);
    }

    /// <summary>One policy object; the reader is on its StartObject and is left on its EndObject.</summary>
    private static PolicyRule ReadPolicy(ref Utf8JsonReader r, NamePool? names)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw new FormatException("snapshot: a policy is not an object");
        string? srcId = null, dstId = null, protocol = null;
        int srcTag = 0, dstTag = 0;
        int start = 0, end = 0;
        bool haveSrc = false, haveDst = false, haveRange = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var isSource = r.ValueTextEquals("source"u8);
            if (!isSource && !r.ValueTextEquals("destination"u8)) { r.Read(); r.Skip(); continue; }
            r.Read();
            if (r.TokenType != JsonTokenType.StartObject) throw new FormatException("snapshot: a policy's source or destination is not an object");
            if (isSource) haveSrc = true; else haveDst = true;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("id"u8)) { r.Read(); if (isSource) srcId = ReadName(ref r, names); else dstId = ReadName(ref r, names); }
                else if (r.ValueTextEquals("tag"u8)) { r.Read(); var t = ReadTag(ref r); if (isSource) srcTag = t; else dstTag = t; }
                else if (!isSource && r.ValueTextEquals("protocol"u8)) { r.Read(); protocol = ReadName(ref r, names); }
                else if (!isSource && r.ValueTextEquals("ports"u8))
                {
                    r.Read();
                    if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                    bool haveStart = false, haveEnd = false;
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        if (r.ValueTextEquals("start"u8)) { r.Read(); start = r.GetInt32(); haveStart = true; }
                        else if (r.ValueTextEquals("end"u8)) { r.Read(); end = r.GetInt32(); haveEnd = true; }
                        else { r.Read(); r.Skip(); }
                    }
                    if (!haveStart || !haveEnd) throw new FormatException("snapshot: a policy's ports need start and end");
                    haveRange = true;
                }
                else if (!isSource && !haveRange && r.ValueTextEquals("port"u8)) { r.Read(); start = end = r.GetInt32(); }
                else { r.Read(); r.Skip(); }
            }
        }
        if (!haveSrc || !haveDst) throw new FormatException("snapshot: a policy without source or destination");
        return new PolicyRule(srcId ?? "", srcTag, dstId ?? "", dstTag, protocol ?? "", start, end);
    }

    /// <summary>A tag string ("00A1") as <see cref="PolicyCompiler.ParseTag"/> reads it, from the bytes when it can (no string).</summary>
    private static int ReadTag(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.String) { r.Skip(); return 0; }
        if (r.ValueIsEscaped || r.HasValueSequence) return PolicyCompiler.ParseTag(r.GetString());
        var raw = r.ValueSpan;
        if (raw.Length is > 0 and <= 8 && System.Buffers.Text.Utf8Parser.TryParse(raw, out uint v, out var used, 'X') && used == raw.Length)
            return v is >= 1 and <= 0xffff ? (int)v : 0;
        return PolicyCompiler.ParseTag(r.GetString()); // anything but plain hex digits (e.g. spaces): exactly as the compiler reads it
    }

    /// <summary>One lease object, or null (skipped) when it is not one or does not parse.</summary>
    private static Lease? ReadLease(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); return null; }
        string? underlay = null, subnet = null, mac = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("underlay_ip"u8)) { r.Read(); underlay = r.TokenType == JsonTokenType.String ? r.GetString() : null; }
            else if (r.ValueTextEquals("overlay_subnet"u8)) { r.Read(); subnet = r.TokenType == JsonTokenType.String ? r.GetString() : null; }
            else if (r.ValueTextEquals("overlay_hardware_addr"u8)) { r.Read(); mac = r.TokenType == JsonTokenType.String ? r.GetString() : null; }
            else { r.Read(); r.Skip(); }
        }
        if (underlay is null || subnet is null) return null;
        return IPAddress.TryParse(underlay, out var ip) && IPNetwork.TryParse(subnet, out var net) ? new Lease(ip, net, mac ?? "") : null;
    }

    private static string ReadName(ref Utf8JsonReader r, NamePool? names)
    {
        if (r.TokenType != JsonTokenType.String) { r.Skip(); return ""; }
        return names is null ? r.GetString() ?? "" : names.Get(ref r);
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

    /// <summary>The string the reader is on (a JSON string token), as the pooled object when seen before.</summary>
    public string Get(ref Utf8JsonReader r)
    {
        if (r.ValueIsEscaped || r.HasValueSequence || r.ValueSpan.Length > 256) return Add(r.GetString() ?? "");
        Span<char> chars = stackalloc char[256];
        if (!Encoding.UTF8.TryGetChars(r.ValueSpan, chars, out var n)) return Add(r.GetString() ?? "");
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
