using System.Text.Json;
using System.Text.Json.Nodes;
using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

/// <summary>
/// How the lab drives the other Weft executables (their command lines and files are documented
/// in docs/server.md, docs/agent.md and docs/cni.md). Everything here is wiring: names and arguments.
/// </summary>
public static class Components
{
    public const int ServerPort = 4002;

    /// <summary>The agent's local state endpoint, on the cell's loopback.</summary>
    public const string AgentStateUrl = "http://" + AgentListen + "/state";

    /// <summary>weft-server's mutual-TLS port for agents.</summary>
    public const int InternalPort = 4003;

    /// <summary>
    /// weft-server init --dir DIR: CA, server certificate (SAN 198.18.0.2), one client certificate
    /// per cell's agent, admin token and config, once per lab. Equivalent to:
    /// weft-server init --dir DIR --server-ip 198.18.0.2 --agent-names cell-1,cell-2
    /// </summary>
    public static LabServer InitServer(LabPlan plan, IEnumerable<string> cells)
    {
        var dir = plan.ServerDir;
        if (!File.Exists(Path.Combine(dir, "weft-server.json")))
        {
            Directory.CreateDirectory(dir);
            var r = Host.Run(Host.Tool("weft-server"), ["init", "--dir", dir, "--server-ip", LabPlan.ServerIp, "--agent-names", string.Join(',', cells)], timeout: TimeSpan.FromSeconds(60));
            if (!r.Ok) throw new CliException($"weft-server init failed: {(r.Stderr + r.Stdout).Trim()}");
        }
        return new LabServer
        {
            Netns = plan.ControlNetns,
            Ip = LabPlan.ServerIp,
            Url = $"http://{LabPlan.ServerIp}:{ServerPort}",
            TokenFile = Path.Combine(dir, "admin.token"),
            CaFile = Path.Combine(dir, "ca.crt"),
            Dir = dir,
        };
    }

    /// <summary>A client certificate for a cell added after init. Equivalent to: weft-server agent-cert --dir DIR --name CELL.</summary>
    public static void EnsureAgentCert(LabServer server, string cell)
    {
        if (File.Exists(AgentCert(server, cell))) return;
        var r = Host.Run(Host.Tool("weft-server"), ["agent-cert", "--dir", server.Dir, "--name", cell], timeout: TimeSpan.FromSeconds(30));
        if (!r.Ok) throw new CliException($"weft-server agent-cert failed: {(r.Stderr + r.Stdout).Trim()}");
    }

    private static string AgentCert(LabServer server, string cell) => Path.Combine(server.Dir, "agents", cell + ".crt");

    public static IReadOnlyList<string> ServerArgs(LabServer server) => ["--config", Path.Combine(server.Dir, "weft-server.json")];

    /// <summary>
    /// weft-agent run … (docs/agent.md), run inside the cell's namespace; its local endpoints
    /// (/health, /metrics, /state) listen on the cell's loopback, <see cref="AgentListen"/>.
    /// </summary>
    public static IReadOnlyList<string> AgentArgs(LabServer server, LabCell cell) =>
    [
        "run",
        "--cell-id", cell.Name,
        "--underlay-ip", cell.UnderlayIp,
        "--underlay-interface", LabPlan.Uplink,
        "--state-dir", cell.StateDir,
        "--server", $"https://{server.Ip}:{InternalPort}",
        "--ca", Path.Combine(server.Dir, "ca.crt"),
        "--cert", AgentCert(server, cell.Name),
        "--key", Path.Combine(server.Dir, "agents", cell.Name + ".key"),
        "--listen", AgentListen,
    ];

    public const string AgentListen = "127.0.0.1:8721";

    /// <summary>True when the cell's agent answers /health with 200 (lease held, table applied).</summary>
    public static bool AgentReady(LabCell cell)
    {
        try
        {
            Commands.InfoCommands.HttpGet($"http://{AgentListen}/health", cell.Netns, CancellationToken.None).GetAwaiter().GetResult();
            return true;
        }
        catch (CliException) { return false; }
    }

    /// <summary>The cell's lease, once its agent has one (lease.json in the cell's state dir).</summary>
    public static string? LeaseSubnet(LabCell cell)
    {
        var path = Path.Combine(cell.StateDir, "lease.json");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.TryGetProperty("subnet", out var s) ? s.GetString() : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The CNI network configuration for a container of <paramref name="app"/> on <paramref name="cell"/>.</summary>
    public static string CniConfig(LabCell cell, LabApp app, int index)
    {
        var conf = new JsonObject
        {
            ["cniVersion"] = "1.1.0",
            ["name"] = "weft-lab",
            ["type"] = "weft-cni",
            ["stateDir"] = cell.StateDir,
            ["dataDir"] = Path.Combine(cell.StateDir, "data"),
            ["metadata"] = new JsonObject
            {
                ["app_id"] = app.Id,
                ["app_name"] = app.Name,
                ["space_id"] = "weft-lab-space",
                ["org_id"] = "weft-lab-org",
                ["instance_index"] = index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["ports"] = app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };
        return conf.ToJsonString();
    }

    /// <summary>Runs weft-cni inside the cell's namespace. Equivalent to: CNI_COMMAND=… nsenter --net=/run/netns/CELL -- bin/weft-cni &lt; conf.</summary>
    public static ToolResult Cni(string command, LabCell cell, LabInstance instance, string config)
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = instance.ContainerId,
            ["CNI_NETNS"] = "/run/netns/" + instance.Netns,
            ["CNI_IFNAME"] = "eth0",
            ["CNI_PATH"] = Host.BinDir,
        };
        return Host.Run("nsenter", ["--net=/run/netns/" + cell.Netns, "--", Host.Tool("weft-cni")], config, env, TimeSpan.FromSeconds(20));
    }

    /// <summary>The container's IPv4 address from a CNI ADD result ("ips":[{"address":"10.255.12.2/32"}]).</summary>
    public static string ParseCniIp(string result)
    {
        using var doc = JsonDocument.Parse(result);
        foreach (var ip in doc.RootElement.GetProperty("ips").EnumerateArray())
        {
            var a = ip.GetProperty("address").GetString() ?? "";
            var slash = a.IndexOf('/');
            return slash > 0 ? a[..slash] : a;
        }
        throw new CliException("weft-cni returned no IP address: " + result);
    }
}
