using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Weft.Agent;

/// <summary>weft-agent's settings (command line flags, or the same names in a --config JSON file).</summary>
public sealed record AgentOptions
{
    public Uri? Server { get; init; }
    public string? Ca { get; init; }
    public string? Cert { get; init; }
    public string? Key { get; init; }
    public IPAddress UnderlayIp { get; init; } = IPAddress.None;
    public string? UnderlayInterface { get; init; }
    public string StateDir { get; init; } = "/run/weft";
    public string Listen { get; init; } = "127.0.0.1:8721";
    public IPNetwork Overlay { get; init; } = IPNetwork.Parse("10.255.0.0/16");
    public string CellId { get; init; } = Environment.MachineName;
    public TimeSpan Resync { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Renew { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public string VtepName { get; init; } = "weft-vtep";
    /// <summary>The overlay ingress router's id (its tag may reach containers' metadata ports); empty: overlay ingress off.</summary>
    public string RouterId { get; init; } = "INGRESS_ROUTER";

    public const string Usage = """
        usage:
          weft-agent run --server URL --ca FILE --cert FILE --key FILE --underlay-ip IP
                         [--underlay-interface DEV] [--state-dir DIR] [--listen ADDR:PORT]
                         [--overlay CIDR] [--cell-id NAME] [--resync 30s] [--renew 30s]
                         [--router-id INGRESS_ROUTER]   (--router-id "" turns overlay ingress off)
          weft-agent run --config FILE.json        (same names as keys: "server", "ca", "underlay-ip", …)
          weft-agent teardown --state-dir DIR [--server URL --ca FILE --cert FILE --key FILE --underlay-ip IP]
        Runs in the current network namespace (start it inside a cell's namespace with nsenter/ip netns exec).
        Defaults: --state-dir /run/weft, --listen 127.0.0.1:8721, --overlay 10.255.0.0/16, --cell-id hostname, --router-id INGRESS_ROUTER.
        """;

    /// <summary>Parses flags; throws <see cref="ArgumentException"/> with a message saying what to fix.</summary>
    public static AgentOptions Parse(IReadOnlyList<string> args)
    {
        var kv = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{a}'");
            var eq = a.IndexOf('=');
            if (eq > 0) { kv[a[2..eq]] = a[(eq + 1)..]; continue; }
            if (i + 1 >= args.Count) throw new ArgumentException($"{a} needs a value");
            kv[a[2..]] = args[++i];
        }
        if (kv.Remove("config", out var file))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!kv.ContainsKey(p.Name)) kv[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
        }
        var o = new AgentOptions();
        foreach (var (k, v) in kv)
        {
            o = k switch
            {
                "server" => o with { Server = new Uri(v) },
                "ca" => o with { Ca = v },
                "cert" => o with { Cert = v },
                "key" => o with { Key = v },
                "underlay-ip" => o with { UnderlayIp = IPAddress.TryParse(v, out var ip) ? ip : throw new ArgumentException($"--underlay-ip: '{v}' is not an IP address") },
                "underlay-interface" => o with { UnderlayInterface = v },
                "state-dir" => o with { StateDir = v },
                "listen" => o with { Listen = v },
                "overlay" => o with { Overlay = IPNetwork.TryParse(v, out var n) ? n : throw new ArgumentException($"--overlay: '{v}' is not a CIDR") },
                "cell-id" => o with { CellId = v },
                "resync" => o with { Resync = Duration(k, v) },
                "renew" => o with { Renew = Duration(k, v) },
                "watch-timeout" => o with { WatchTimeout = Duration(k, v) },
                "vtep" => o with { VtepName = v },
                "router-id" => o with { RouterId = v.Length == 0 || Cell.ContainerRecordParser.IsSafeAppId(v) ? v : throw new ArgumentException($"--router-id: '{v}' must be 1-255 characters of [A-Za-z0-9._:-], or empty to turn overlay ingress off") },
                _ => throw new ArgumentException($"unknown option --{k}"),
            };
        }
        return o;
    }

    public void ValidateForRun()
    {
        if (Server is null || Ca is null || Cert is null || Key is null)
            throw new ArgumentException("--server, --ca, --cert and --key are required (weft-server init writes the CA and agent certificates)");
        if (UnderlayIp.Equals(IPAddress.None)) throw new ArgumentException("--underlay-ip is required (the cell's address on the underlay network)");
    }

    private static TimeSpan Duration(string k, string v)
    {
        if (v.EndsWith("ms", StringComparison.Ordinal) && double.TryParse(v[..^2], CultureInfo.InvariantCulture, out var ms)) return TimeSpan.FromMilliseconds(ms);
        if (v.EndsWith('s') && double.TryParse(v[..^1], CultureInfo.InvariantCulture, out var s)) return TimeSpan.FromSeconds(s);
        if (v.EndsWith('m') && double.TryParse(v[..^1], CultureInfo.InvariantCulture, out var m)) return TimeSpan.FromMinutes(m);
        throw new ArgumentException($"--{k}: '{v}' is not a duration such as 30s, 500ms or 5m");
    }
}
