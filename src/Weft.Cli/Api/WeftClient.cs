using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Weft.Cli.Cli;

namespace Weft.Cli.Api;

/// <summary>
/// HTTP client for weft-server's external API (CF-compatible policies under /networking/v1/external,
/// Weft additions under /weft/v1). With <see cref="Profile.Netns"/> set, every TCP connection is
/// opened inside that network namespace, so a lab's server is reachable without any route from
/// the machine's own namespace.
/// </summary>
public sealed class WeftClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _server;

    public WeftClient(Profile profile, TimeSpan? timeout = null)
    {
        _server = profile.Server.TrimEnd('/');
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
        if (profile.Netns is { } ns)
        {
            handler.ConnectCallback = async (ctx, ct) =>
            {
                var ep = ctx.DnsEndPoint;
                if (!IPAddress.TryParse(ep.Host, out var ip))
                    throw new HttpRequestException($"inside namespace {ns} the server must be an IP address, not '{ep.Host}'");
                var socket = NetnsSockets.Open(ns, ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.NoDelay = true;
                    await socket.ConnectAsync(new IPEndPoint(ip, ep.Port), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        if (profile.CaFile is { } caFile && _server.StartsWith("https:", StringComparison.OrdinalIgnoreCase))
        {
            var ca = LoadCa(caFile);
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (errors == SslPolicyErrors.None) return true;
                    if (cert is null) return false;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    // Name mismatch is acceptable only when the chain ends at our own CA: lab servers are addressed by IP.
                    return chain.Build(new X509Certificate2(cert));
                },
            };
        }
        _http = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(15) };
        if (profile.TokenFile is { } tokenFile)
        {
            string token;
            try { token = File.ReadAllText(tokenFile).Trim(); }
            catch (IOException e) { throw new CliException($"cannot read the token file {tokenFile}: {e.Message}", "check the profile: weft profile show", ExitCodes.Usage); }
            catch (UnauthorizedAccessException) { throw new CliException($"no permission to read the token file {tokenFile}", "run as root (the lab's files belong to root)", ExitCodes.Usage); }
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public string Server => _server;

    private static X509Certificate2 LoadCa(string path)
    {
        try { return X509Certificate2.CreateFromPem(File.ReadAllText(path)); }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read the CA certificate {path}: {e.Message}", "check the profile: weft profile show", ExitCodes.Usage);
        }
    }

    public Task<PolicyList> ListPolicies(IReadOnlyCollection<string>? ids, CancellationToken ct = default)
        => GetAsync("/networking/v1/external/policies" + (ids is { Count: > 0 } ? "?id=" + Uri.EscapeDataString(string.Join(',', ids)) : ""), CliJson.Default.PolicyList, ct);

    public Task CreatePolicies(IReadOnlyList<Policy> policies, CancellationToken ct = default)
        => PostAsync("/networking/v1/external/policies", new PolicyRequest(policies), ct);

    public Task DeletePolicies(IReadOnlyList<Policy> policies, CancellationToken ct = default)
        => PostAsync("/networking/v1/external/policies/delete", new PolicyRequest(policies), ct);

    /// <summary>GET a path and parse it into a DOM (for Weft endpoints read field by field).</summary>
    public async Task<JsonDocument> GetDocument(string path, CancellationToken ct = default)
    {
        var body = await SendAsync(new HttpRequestMessage(HttpMethod.Get, _server + path), ct).ConfigureAwait(false);
        try { return JsonDocument.Parse(body); }
        catch (JsonException e) { throw new CliException($"the server at {_server} answered {path} with something that is not JSON: {e.Message}"); }
    }

    private async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct)
    {
        var body = await SendAsync(new HttpRequestMessage(HttpMethod.Get, _server + path), ct).ConfigureAwait(false);
        try { return JsonSerializer.Deserialize(body, type) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CliException($"the server at {_server} answered {path} with unexpected JSON: {e.Message}"); }
    }

    private async Task PostAsync(string path, PolicyRequest request, CancellationToken ct)
    {
        var json = JsonSerializer.Serialize(request, CliJson.Default.PolicyRequest);
        var msg = new HttpRequestMessage(HttpMethod.Post, _server + path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        await SendAsync(msg, ct).ConfigureAwait(false);
    }

    private async Task<string> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException or Weft.Linux.KernelException)
        {
            var why = e.InnerException is { } inner ? inner.Message : e.Message;
            throw new CliException($"cannot reach the server at {_server}: {why}",
                "is it running? for a lab: `weft lab status` (or `weft lab up`); otherwise check `weft profile show`", ExitCodes.Unreachable);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (response.IsSuccessStatusCode) return body;
            var error = TryError(body) ?? $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
            throw response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => new CliException($"the server refused the token: {error}", "check the profile's token file (weft profile show)", ExitCodes.Unreachable),
                HttpStatusCode.Forbidden => new CliException($"not allowed: {error}", "this needs a token with the network.admin or network.write scope"),
                HttpStatusCode.NotFound => new CliException($"the server does not know {request.RequestUri?.AbsolutePath}: {error}", "is the profile pointing at a weft-server? (weft profile show)"),
                _ => new CliException($"the server said: {error}"),
            };
        }
    }

    private static string? TryError(string body)
    {
        try { return JsonSerializer.Deserialize(body, CliJson.Default.ApiError)?.Error; }
        catch (JsonException) { return string.IsNullOrWhiteSpace(body) ? null : body.Trim(); }
    }

    public void Dispose() => _http.Dispose();
}
