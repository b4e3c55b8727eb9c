using Microsoft.Extensions.Configuration;
using Weft.Server.Storage;

namespace Weft.Server;

/// <summary>
/// weft-server's configuration: the JSON file written by <c>weft-server init</c>, overridden by
/// environment variables <c>WEFT_SERVER__SECTION__KEY</c> (e.g. <c>WEFT_SERVER__DATABASE__ENGINE=postgres</c>).
/// Relative paths are relative to the config file's directory.
/// </summary>
public sealed record ServerOptions
{
    public string ExternalAddress { get; init; } = "0.0.0.0";
    public int ExternalPort { get; init; } = 4002;
    /// <summary>Optional TLS for the external API (PEM files). Plain HTTP when unset, as CF's default.</summary>
    public string? ExternalTlsCert { get; init; }
    public string? ExternalTlsKey { get; init; }

    public string InternalAddress { get; init; } = "0.0.0.0";
    public int InternalPort { get; init; } = 4003;
    public string InternalCert { get; init; } = "server.crt";
    public string InternalKey { get; init; } = "server.key";
    /// <summary>The platform CA: client certificates must chain to it.</summary>
    public string ClientCa { get; init; } = "ca.crt";

    public DbEngine DatabaseEngine { get; init; } = DbEngine.Sqlite;
    public string SqlitePath { get; init; } = "weft.db";
    public string? PostgresConnectionString { get; init; }

    public string TokensFile { get; init; } = "tokens.json";

    public string OverlayNetwork { get; init; } = "10.255.0.0/16";
    public int SubnetPrefixLength { get; init; } = 24;
    public double LeaseExpirationHours { get; init; } = 168;

    public int MaxPoliciesPerAppSource { get; init; } = 150;
    public int TagLength { get; init; } = 2;
    /// <summary>Minutes between stale-policy cleanups; 0 disables the periodic run (the endpoint stays).</summary>
    public int PolicyCleanupIntervalMinutes { get; init; } = 60;
    /// <summary>An app is stale when it has had no registered instance for this long.</summary>
    public int StaleAppAfterMinutes { get; init; } = 60;

    public string[] CorsAllowedOrigins { get; init; } = [];

    /// <summary>"json" (structured, one object per line) or "simple".</summary>
    public string LogFormat { get; init; } = "json";
    public string LogLevel { get; init; } = "Information";

    public static ServerOptions Load(string configPath)
    {
        var full = Path.GetFullPath(configPath);
        if (!File.Exists(full)) throw new FileNotFoundException($"config file {full} not found (create one with: weft-server init --dir DIR)");
        var cfg = new ConfigurationBuilder()
            .AddJsonFile(full, optional: false, reloadOnChange: false)
            .AddEnvironmentVariables("WEFT_SERVER__")
            .Build();
        return FromConfiguration(cfg, Path.GetDirectoryName(full)!);
    }

    public static ServerOptions FromConfiguration(IConfiguration c, string baseDir)
    {
        var d = new ServerOptions();
        string Abs(string? p, string fallback) => Path.GetFullPath(Path.Combine(baseDir, string.IsNullOrEmpty(p) ? fallback : p));
        string? AbsOpt(string? p) => string.IsNullOrEmpty(p) ? null : Path.GetFullPath(Path.Combine(baseDir, p));
        int Int(string key, int def) => c[key] is { Length: > 0 } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : def;
        double Dbl(string key, double def) => c[key] is { Length: > 0 } s ? double.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : def;

        var engine = (c["database:engine"] ?? "sqlite").ToLowerInvariant() switch
        {
            "sqlite" => DbEngine.Sqlite,
            "postgres" or "postgresql" or "pg" => DbEngine.Postgres,
            var e => throw new InvalidOperationException($"database.engine '{e}' is not supported (use sqlite or postgres)"),
        };
        var o = new ServerOptions
        {
            ExternalAddress = c["external:address"] ?? d.ExternalAddress,
            ExternalPort = Int("external:port", d.ExternalPort),
            ExternalTlsCert = AbsOpt(c["external:tlsCert"]),
            ExternalTlsKey = AbsOpt(c["external:tlsKey"]),
            InternalAddress = c["internal:address"] ?? d.InternalAddress,
            InternalPort = Int("internal:port", d.InternalPort),
            InternalCert = Abs(c["internal:cert"], d.InternalCert),
            InternalKey = Abs(c["internal:key"], d.InternalKey),
            ClientCa = Abs(c["internal:clientCa"], d.ClientCa),
            DatabaseEngine = engine,
            SqlitePath = Abs(c["database:path"], d.SqlitePath),
            PostgresConnectionString = c["database:connectionString"],
            TokensFile = Abs(c["tokensFile"], d.TokensFile),
            OverlayNetwork = c["overlay:network"] ?? d.OverlayNetwork,
            SubnetPrefixLength = Int("overlay:subnetPrefixLength", d.SubnetPrefixLength),
            LeaseExpirationHours = Dbl("overlay:leaseExpirationHours", d.LeaseExpirationHours),
            MaxPoliciesPerAppSource = Int("policy:maxPoliciesPerAppSource", d.MaxPoliciesPerAppSource),
            TagLength = Int("policy:tagLength", d.TagLength),
            PolicyCleanupIntervalMinutes = Int("policy:cleanupIntervalMinutes", d.PolicyCleanupIntervalMinutes),
            StaleAppAfterMinutes = Int("policy:staleAppAfterMinutes", d.StaleAppAfterMinutes),
            CorsAllowedOrigins = c.GetSection("corsAllowedOrigins").GetChildren().Select(x => x.Value!).Where(v => v is not null).ToArray(),
            LogFormat = c["logging:format"] ?? d.LogFormat,
            LogLevel = c["logging:level"] ?? d.LogLevel,
        };
        o.Validate();
        return o;
    }

    public void Validate()
    {
        if (TagLength is not (1 or 2))
            throw new InvalidOperationException($"policy.tagLength {TagLength} is not supported: VXLAN-GBP carries 16 bits (use 1 or 2)");
        if (DatabaseEngine == DbEngine.Postgres && string.IsNullOrWhiteSpace(PostgresConnectionString))
            throw new InvalidOperationException("database.engine is postgres but database.connectionString is empty");
        if (ExternalPort != 0 && ExternalPort == InternalPort)
            throw new InvalidOperationException("external.port and internal.port must differ");
        if ((ExternalTlsCert is null) != (ExternalTlsKey is null))
            throw new InvalidOperationException("external.tlsCert and external.tlsKey must be set together");
        // weft-cni hands out .2–.254 of a cell's block and the agent's VTEP owns .0: a block is a /24.
        if (SubnetPrefixLength != 24)
            throw new InvalidOperationException($"overlay.subnetPrefixLength {SubnetPrefixLength} is not supported: cells lease /24 blocks (use 24)");
        _ = new Leases.LeasePool(OverlayNetwork, SubnetPrefixLength);
    }
}
