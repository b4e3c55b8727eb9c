using System.Net;
using System.Text.Json;
using Weft.Server.Security;

namespace Weft.Server.Commands;

/// <summary>
/// <c>weft-server init --dir DIR</c>: writes the platform CA, the server certificate, one client
/// certificate per agent, an admin token and a config file, so that
/// <c>weft-server --config DIR/weft-server.json</c> starts a working server.
/// </summary>
public static class InitCommand
{
    public sealed record InitOptions
    {
        public required string Dir { get; init; }
        public List<string> ServerIps { get; init; } = [];
        public List<string> ServerDns { get; init; } = [];
        public List<string> AgentNames { get; init; } = [];
        public bool Force { get; init; }
        public string ExternalAddress { get; init; } = "0.0.0.0";
        public int ExternalPort { get; init; } = 4002;
        public string InternalAddress { get; init; } = "0.0.0.0";
        public int InternalPort { get; init; } = 4003;
        public string? PostgresConnectionString { get; init; }
    }

    public const string ConfigFileName = "weft-server.json";

    /// <summary>Writes everything; returns the admin token.</summary>
    public static string Run(InitOptions o, TextWriter output)
    {
        var dir = Path.GetFullPath(o.Dir);
        Directory.CreateDirectory(dir);
        var configPath = Path.Combine(dir, ConfigFileName);
        if (File.Exists(configPath) && !o.Force)
            throw new InvalidOperationException($"{configPath} exists; this directory is already initialised (add --force to overwrite it)");

        var ips = o.ServerIps.Select(s => IPAddress.TryParse(s, out var ip) ? ip : throw new ArgumentException($"--server-ip '{s}' is not an IP address")).ToList();
        if (!ips.Contains(IPAddress.Loopback)) ips.Add(IPAddress.Loopback);
        var dns = o.ServerDns.ToList();
        foreach (var d in new[] { "localhost", "weft-server" }) if (!dns.Contains(d)) dns.Add(d);

        using var ca = Certificates.CreateCa("Weft platform CA");
        Certificates.WritePem(ca, Path.Combine(dir, "ca.crt"), Path.Combine(dir, "ca.key"));
        using (var server = Certificates.Issue(ca, "weft-server", server: true, dns, ips))
            Certificates.WritePem(server, Path.Combine(dir, "server.crt"), Path.Combine(dir, "server.key"));
        var agentsDir = Path.Combine(dir, "agents");
        Directory.CreateDirectory(agentsDir);
        foreach (var name in o.AgentNames) IssueAgent(ca, agentsDir, name);

        var tokensPath = Path.Combine(dir, "tokens.json");
        TokenStore.Write(tokensPath, new TokenFile());
        var token = TokenStore.Add(tokensPath, "admin", [AuthScopes.Admin]);
        var tokenPath = Path.Combine(dir, "admin.token");
        File.WriteAllText(tokenPath, token + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tokenPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        File.WriteAllText(configPath, ConfigJson(o));

        output.WriteLine($"weft-server: initialised {dir}");
        output.WriteLine($"  config        {configPath}");
        output.WriteLine($"  CA            {Path.Combine(dir, "ca.crt")} (key ca.key)");
        output.WriteLine($"  server cert   {Path.Combine(dir, "server.crt")} (SANs: {string.Join(", ", dns.Concat(ips.Select(i => i.ToString())))})");
        foreach (var name in o.AgentNames)
            output.WriteLine($"  agent cert    {Path.Combine(agentsDir, name + ".crt")} (key {name}.key)");
        output.WriteLine($"  tokens        {tokensPath} (hashed)");
        output.WriteLine($"  admin token   {tokenPath}");
        output.WriteLine($"start it with:  weft-server --config {configPath}");
        return token;
    }

    /// <summary>Issues DIR/agents/NAME.crt and .key from DIR/ca.crt and DIR/ca.key.</summary>
    public static void AddAgent(string dir, string name, TextWriter output)
    {
        dir = Path.GetFullPath(dir);
        using var ca = Certificates.LoadPem(Path.Combine(dir, "ca.crt"), Path.Combine(dir, "ca.key"));
        var agentsDir = Path.Combine(dir, "agents");
        Directory.CreateDirectory(agentsDir);
        IssueAgent(ca, agentsDir, name);
        output.WriteLine($"agent cert {Path.Combine(agentsDir, name + ".crt")} (key {name}.key)");
    }

    private static void IssueAgent(System.Security.Cryptography.X509Certificates.X509Certificate2 ca, string agentsDir, string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(['/', '\\', ' ', ',']) >= 0 || name.StartsWith('.'))
            throw new ArgumentException($"agent name '{name}' must be a plain word such as cell-1");
        using var cert = Certificates.Issue(ca, name, server: false, [], []);
        Certificates.WritePem(cert, Path.Combine(agentsDir, name + ".crt"), Path.Combine(agentsDir, name + ".key"));
    }

    private static string ConfigJson(InitOptions o)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("external");
            w.WriteString("address", o.ExternalAddress);
            w.WriteNumber("port", o.ExternalPort);
            w.WriteEndObject();
            w.WriteStartObject("internal");
            w.WriteString("address", o.InternalAddress);
            w.WriteNumber("port", o.InternalPort);
            w.WriteString("cert", "server.crt");
            w.WriteString("key", "server.key");
            w.WriteString("clientCa", "ca.crt");
            w.WriteEndObject();
            w.WriteStartObject("database");
            if (o.PostgresConnectionString is null)
            {
                w.WriteString("engine", "sqlite");
                w.WriteString("path", "weft.db");
            }
            else
            {
                w.WriteString("engine", "postgres");
                w.WriteString("connectionString", o.PostgresConnectionString);
            }
            w.WriteEndObject();
            w.WriteString("tokensFile", "tokens.json");
            w.WriteStartObject("overlay");
            w.WriteString("network", "10.255.0.0/16");
            w.WriteNumber("subnetPrefixLength", 24);
            w.WriteNumber("leaseExpirationHours", 168);
            w.WriteEndObject();
            w.WriteStartObject("policy");
            w.WriteNumber("maxPoliciesPerAppSource", 150);
            w.WriteNumber("tagLength", 2);
            w.WriteNumber("cleanupIntervalMinutes", 60);
            w.WriteNumber("staleAppAfterMinutes", 60);
            w.WriteEndObject();
            w.WriteStartArray("corsAllowedOrigins");
            w.WriteEndArray();
            w.WriteStartObject("logging");
            w.WriteString("format", "json");
            w.WriteString("level", "Information");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
