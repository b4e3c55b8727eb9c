using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Weft.Server.Commands;
using Weft.Server.Hosting;
using Weft.Server.Security;
using Weft.Server.Storage;

namespace Weft.Server.Tests;

/// <summary>A time source the tests move by hand (lease expiry).</summary>
public sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan d) => _now += d;
}

/// <summary>
/// A temp directory initialised by <c>weft-server init</c> (CA, server and agent certificates,
/// tokens, config) and a server started in-process on loopback ports from it.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public string Dir { get; }
    public string AdminToken { get; }
    public string WriteToken { get; }
    public string AdminOnlyToken { get; }
    public WeftServerHost Host { get; private set; } = null!;
    public ServerOptions Options { get; private set; } = null!;
    public HttpClient External { get; private set; } = null!;
    public HttpClient Internal { get; private set; } = null!;
    public ManualTime Time { get; } = new();
    private readonly bool _ownsDir;

    private TestServer(string dir, bool ownsDir)
    {
        Dir = dir;
        _ownsDir = ownsDir;
        var tokens = Path.Combine(dir, "tokens.json");
        AdminToken = File.ReadAllText(Path.Combine(dir, "admin.token")).Trim();
        WriteToken = TokenStore.Add(tokens, "alice", [AuthScopes.Write]);
        AdminOnlyToken = AdminToken;
    }

    public static string InitDir(params string[] agents)
    {
        var dir = Directory.CreateTempSubdirectory("weft-server-test-").FullName;
        InitCommand.Run(new InitCommand.InitOptions { Dir = dir, AgentNames = agents.Length == 0 ? ["cell-1", "cell-2"] : [.. agents] }, TextWriter.Null);
        return dir;
    }

    /// <summary>Starts a server. <paramref name="postgres"/> null: SQLite in the temp directory.</summary>
    public static async Task<TestServer> StartAsync(string? postgres = null, Func<ServerOptions, ServerOptions>? configure = null, string? dir = null)
    {
        var ts = new TestServer(dir ?? InitDir(), dir is null);
        await ts.StartHostAsync(postgres, configure);
        return ts;
    }

    private async Task StartHostAsync(string? postgres, Func<ServerOptions, ServerOptions>? configure)
    {
        var o = ServerOptions.Load(Path.Combine(Dir, InitCommand.ConfigFileName)) with
        {
            ExternalAddress = "127.0.0.1",
            ExternalPort = 0,
            InternalAddress = "127.0.0.1",
            InternalPort = 0,
            DatabaseEngine = postgres is null ? DbEngine.Sqlite : DbEngine.Postgres,
            PostgresConnectionString = postgres,
            PolicyCleanupIntervalMinutes = 0,
        };
        if (configure is not null) o = configure(o);
        Options = o;
        Host = await WeftServerHost.StartAsync(o, l => l.SetMinimumLevel(LogLevel.Warning), Time);
        External = new HttpClient { BaseAddress = Host.ExternalUri };
        Internal = AgentClient("cell-1");
    }

    /// <summary>A client of the internal API presenting DIR/agents/NAME.crt and trusting only DIR/ca.crt.</summary>
    public HttpClient AgentClient(string name) =>
        MtlsClient(Path.Combine(Dir, "agents", name + ".crt"), Path.Combine(Dir, "agents", name + ".key"), Path.Combine(Dir, "ca.crt"), Host.InternalUri);

    public static HttpClient MtlsClient(string? certPath, string? keyPath, string caPath, Uri baseAddress)
    {
        var ca = Certificates.LoadCertificate(caPath);
        var ssl = certPath is not null
            ? Certificates.InternalClientOptions(Certificates.LoadPem(certPath, keyPath!), ca)
            : new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = Certificates.ServerChainPolicy(ca),
                RemoteCertificateValidationCallback = (_, _, chain, errors) => Certificates.IsTrustedByPolicy(chain, errors, ca),
            };
        var handler = new SocketsHttpHandler { SslOptions = ssl, MaxConnectionsPerServer = 256 };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpRequestMessage Request(HttpMethod method, string path, string? token, string? json = null)
    {
        var r = new HttpRequestMessage(method, path);
        if (token is not null) r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        if (json is not null) r.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return r;
    }

    public async Task<(int Status, string Body)> SendAsync(HttpClient client, HttpMethod method, string path, string? token = null, string? json = null)
    {
        using var r = await client.SendAsync(Request(method, path, token, json));
        return ((int)r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    public Task<(int Status, string Body)> Ext(HttpMethod method, string path, string? json = null, string? token = "admin") =>
        SendAsync(External, method, path, token == "admin" ? AdminToken : token == "write" ? WriteToken : token, json);

    public Task<(int Status, string Body)> Int(HttpMethod method, string path, string? json = null) => SendAsync(Internal, method, path, null, json);

    public static string Policy(string src, string dst, int start = 8080, int end = 8080, string protocol = "tcp") =>
        "{\"source\":{\"id\":\"" + src + "\"},\"destination\":{\"id\":\"" + dst + "\",\"protocol\":\"" + protocol
        + "\",\"ports\":{\"start\":" + start + ",\"end\":" + end + "}}}";

    public static string Batch(params string[] policies) => $$"""{"policies":[{{string.Join(',', policies)}}]}""";

    public async Task CreateAsync(params string[] policies)
    {
        var (status, body) = await Ext(HttpMethod.Post, "/networking/v1/external/policies", Batch(policies));
        Assert.True(status == 200, body);
    }

    public static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement.Clone();

    /// <summary>Stops the in-process host and starts a new one on the same directory and database.</summary>
    public async Task RestartAsync()
    {
        External.Dispose();
        Internal.Dispose();
        await Host.DisposeAsync();
        await StartHostAsync(Options.PostgresConnectionString, o => Options with { ExternalPort = 0, InternalPort = 0 });
    }

    public async ValueTask DisposeAsync()
    {
        External?.Dispose();
        Internal?.Dispose();
        if (Host is not null) await Host.DisposeAsync();
        if (_ownsDir) try { Directory.Delete(Dir, true); } catch { }
    }
}
