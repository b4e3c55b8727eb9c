using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Weft.TestSupport;

/// <summary>
/// A whole Weft deployment for end-to-end tests: a <see cref="CellFabric"/> underlay, a real
/// <c>bin/weft-server</c> in a control namespace (198.18.0.2, internal mTLS API on 4003, external on 4002),
/// and a real <c>bin/weft-agent</c> per cell, started inside the cell's namespace exactly as the lab does:
/// <code>nsenter --net=/run/netns/CELL bin/weft-agent run --server https://198.18.0.2:4003 --ca DIR/ca.crt
///   --cert DIR/agents/CELL.crt --key DIR/agents/CELL.key --underlay-ip IP --state-dir DIR/cells/CELL
///   --cell-id CELL --listen 127.0.0.1:8721</code>
/// Containers are attached like weft-cni attaches them and recorded in the cell's state dir.
/// </summary>
public sealed class WeftCluster : IDisposable
{
    public const string ServerIp = "198.18.0.2";
    private readonly Dictionary<string, Process> _agents = [];
    private Process? _server;
    private FabricCell _control = null!;

    public WeftCluster(params (string Name, string UnderlayIp)[] cells)
    {
        Root = Repo.Root;
        foreach (var exe in new[] { "weft-server", "weft-agent" })
            if (!File.Exists(Path.Combine(Root, "bin", exe))) throw new InvalidOperationException($"bin/{exe} is missing: run ./build.sh first");
        Fabric = new CellFabric();
        Dir = Directory.CreateTempSubdirectory("wefttest-cluster-").FullName;
        try
        {
            _control = Fabric.AddCell("ctl", ServerIp);
            Init(cells);
        }
        catch
        {
            Dispose(); // a constructor that throws is never disposed by the test framework
            throw;
        }
    }

    private void Init((string Name, string UnderlayIp)[] cells)
    {
        var (rc, output) = CellFabric.Run(Bin("weft-server"), $"init --dir {Dir}/server --server-ip {ServerIp} --agent-names {string.Join(',', cells.Select(c => c.Name))}");
        if (rc != 0) throw new InvalidOperationException($"weft-server init failed: {output}");
        AdminToken = File.ReadAllText(Path.Combine(Dir, "server", "admin.token")).Trim();
        StartServer();
        foreach (var (name, ip) in cells)
        {
            Cells[name] = Fabric.AddCell(name, ip);
        }
    }

    public string Root { get; }
    public CellFabric Fabric { get; }
    public string Dir { get; }
    public string AdminToken { get; private set; } = "";
    public Dictionary<string, FabricCell> Cells { get; } = [];
    public Dictionary<string, StringBuilder> AgentLogs { get; } = [];

    public string Bin(string name) => Path.Combine(Root, "bin", name);

    public string StateDir(string cell) => Path.Combine(Dir, "cells", cell);

    public void StartServer()
    {
        _server = Fabric.Start(_control.Ns, Bin("weft-server"), ["--config", Path.Combine(Dir, "server", "weft-server.json")]);
        _server.OutputDataReceived += (_, _) => { };
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        WaitUntil(() => Http(HttpMethod.Get, "/networking/v1/external/policies", null).Result.Status == 200, "weft-server to answer");
    }

    /// <summary>Kills the server by its pid (fail-static tests).</summary>
    public void StopServer()
    {
        if (_server is { HasExited: false }) { _server.Kill(); _server.WaitForExit(); }
    }

    /// <summary>The agent's command line (what the lab runs); <paramref name="resync"/> is its full-pass period.</summary>
    public string[] AgentArgs(string cell, string resync = "10s") =>
    [
        "run", "--server", $"https://{ServerIp}:4003", "--ca", Path.Combine(Dir, "server", "ca.crt"),
        "--cert", Path.Combine(Dir, "server", "agents", cell + ".crt"), "--key", Path.Combine(Dir, "server", "agents", cell + ".key"),
        "--underlay-ip", Cells[cell].UnderlayIp.ToString(), "--state-dir", StateDir(cell), "--cell-id", cell,
        "--listen", "127.0.0.1:8721", "--resync", resync,
    ];

    /// <summary>Starts the agent of a cell and waits until it is healthy; <paramref name="resync"/> as in <see cref="AgentArgs"/>.</summary>
    public void StartAgent(string cell, string resync = "10s")
    {
        var log = AgentLogs.TryGetValue(cell, out var l) ? l : AgentLogs[cell] = new StringBuilder();
        var p = Fabric.Start(Cells[cell].Ns, Bin("weft-agent"), AgentArgs(cell, resync));
        p.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _agents[cell] = p;
        WaitUntil(() => AgentGet(cell, "/health").Result.Status == 200, $"weft-agent on {cell} to be healthy", () => log.ToString());
    }

    /// <summary>
    /// Waits until the cell's agent has applied a table that knows <paramref name="containers"/> (their addresses in
    /// its <c>containers</c> map, read from the agent's /state). Until then traffic to them is not yet judged by policy,
    /// so a test asserting "denied" right after attaching them could see it pass.
    /// </summary>
    public void WaitForEnforcement(string cell, params FabricContainer[] containers) =>
        WaitUntil(() =>
        {
            var (status, body) = AgentGet(cell, "/state").Result;
            if (status != 200) return false;
            using var doc = JsonDocument.Parse(body);
            // Elements read "w-010255012002" . 10.255.12.2 : 0x00000001.
            var known = doc.RootElement.GetProperty("table").GetProperty("containers").EnumerateArray().Select(e => e.GetString()!).ToArray();
            return containers.All(c => known.Any(e => e.Contains($" . {c.Ip} : ", StringComparison.Ordinal)));
        }, $"the agent on {cell} to enforce for {string.Join(", ", containers.Select(c => c.Name))}",
        () => AgentLogs.TryGetValue(cell, out var log) ? log.ToString() : "");

    /// <summary>The agent process started on a cell (its pid is the agent's: nsenter execs it).</summary>
    public Process AgentProcess(string cell) => _agents[cell];

    /// <summary>Kills an agent by its pid (SIGKILL: no cleanup at all, like a crash).</summary>
    public void KillAgent(string cell)
    {
        var p = _agents[cell];
        if (!p.HasExited) { p.Kill(); p.WaitForExit(); }
    }

    /// <summary>The cell's lease subnet base ("10.255.12.") as the agent wrote it in lease.json.</summary>
    public string SubnetPrefix(string cell)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(StateDir(cell), "lease.json")));
        var subnet = doc.RootElement.GetProperty("subnet").GetString()!;
        return subnet[..(subnet.LastIndexOf('.') + 1)];
    }

    /// <summary>The app name the fixture gives every container of an app id (recorded as weft-cni does).</summary>
    public static string AppName(string appId) => "name-" + appId;

    /// <summary>Attaches a container to a cell and writes its record (as weft-cni does), then notifies the agent.</summary>
    public FabricContainer AddContainer(string cell, string name, int hostOctet, string appId)
    {
        if (File.Exists(Bin("weft-cni"))) return AddContainerWithCni(cell, name, appId);
        var ip = SubnetPrefix(cell) + hostOctet;
        var c = Fabric.AddContainer(Cells[cell], name, ip);
        var dir = Path.Combine(StateDir(cell), "containers");
        Directory.CreateDirectory(dir);
        var json = $"{{\"containerId\":\"{name}\",\"ifName\":\"eth0\",\"ip\":\"{ip}\",\"netns\":\"/run/netns/{c.Ns}\",\"hostVeth\":\"{c.HostVeth}\"," +
                   $"\"appId\":\"{appId}\",\"appName\":\"{AppName(appId)}\",\"spaceId\":\"space\",\"orgId\":\"org\",\"instanceIndex\":0,\"ports\":[8080],\"portMappings\":[],\"createdAt\":\"2026-11-21T22:00:00Z\"}}";
        var tmp = Path.Combine(dir, $".{name}.tmp");
        File.WriteAllText(tmp, json);
        File.Move(tmp, Path.Combine(dir, $"{name}.eth0.json"), true);
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            s.SendTo("containers"u8.ToArray(), new UnixDomainSocketEndPoint(Path.Combine(StateDir(cell), "agent.sock")));
        }
        catch (SocketException) { } // the agent also watches the directory
        return c;
    }

    /// <summary>
    /// Makes a container with the real plugin: <c>CNI_COMMAND=ADD … bin/weft-cni</c> run inside the cell's
    /// namespace with <c>{"type":"weft-cni","stateDir":…}</c>; the plugin allocates the IP from the
    /// agent's lease, writes the record and notifies the agent.
    /// </summary>
    /// <param name="ports">The container's metadata ports (<c>WEFT_PORTS</c>, comma-separated).</param>
    /// <param name="portMappings">Host port → container port (TCP), passed as <c>runtimeConfig.portMappings</c>.</param>
    public FabricContainer AddContainerWithCni(string cell, string name, string appId, string ports = "8080",
        IReadOnlyList<(int HostPort, int ContainerPort)>? portMappings = null)
    {
        var ns = Fabric.AddNamespace(name);
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add($"--net=/run/netns/{Cells[cell].Ns}");
        psi.ArgumentList.Add(Bin("weft-cni"));
        psi.Environment["CNI_COMMAND"] = "ADD";
        psi.Environment["CNI_CONTAINERID"] = name;
        psi.Environment["CNI_NETNS"] = $"/run/netns/{ns}";
        psi.Environment["CNI_IFNAME"] = "eth0";
        psi.Environment["CNI_PATH"] = Path.Combine(Root, "bin");
        psi.Environment["CNI_ARGS"] = $"WEFT_APP_ID={appId};WEFT_APP_NAME={AppName(appId)};WEFT_SPACE_ID=space;WEFT_ORG_ID=org;WEFT_INSTANCE_INDEX=0;WEFT_PORTS={ports}";
        using var p = Process.Start(psi)!;
        var runtimeConfig = portMappings is null ? "" :
            ",\"runtimeConfig\":{\"portMappings\":[" + string.Join(',', portMappings.Select(m => $"{{\"hostPort\":{m.HostPort},\"containerPort\":{m.ContainerPort},\"protocol\":\"tcp\"}}")) + "]}";
        p.StandardInput.Write($"{{\"cniVersion\":\"1.1.0\",\"name\":\"weft\",\"type\":\"weft-cni\",\"stateDir\":\"{StateDir(cell)}\"{runtimeConfig}}}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"weft-cni ADD {name} failed ({p.ExitCode}): {stdout} {stderr}");
        using var doc = JsonDocument.Parse(stdout);
        var address = doc.RootElement.GetProperty("ips")[0].GetProperty("address").GetString()!;
        var ip = IPAddress.Parse(address[..address.IndexOf('/')]);
        var veth = "w-" + string.Concat(ip.ToString().Split('.').Select(o => o.PadLeft(3, '0')));
        return new FabricContainer(name, ns, ip, veth);
    }

    /// <summary>Creates a policy through the external API; returns when the API has answered.</summary>
    public async Task CreatePolicy(string src, string dst, string protocol, int start, int end)
    {
        var r = await Http(HttpMethod.Post, "/networking/v1/external/policies", PolicyJson(src, dst, protocol, start, end));
        if (r.Status != 200) throw new InvalidOperationException($"create policy: {r.Status} {r.Body}");
    }

    public async Task DeletePolicy(string src, string dst, string protocol, int start, int end)
    {
        var r = await Http(HttpMethod.Post, "/networking/v1/external/policies/delete", PolicyJson(src, dst, protocol, start, end));
        if (r.Status != 200) throw new InvalidOperationException($"delete policy: {r.Status} {r.Body}");
    }

    private static string PolicyJson(string src, string dst, string protocol, int start, int end) =>
        $"{{\"policies\":[{{\"source\":{{\"id\":\"{src}\"}},\"destination\":{{\"id\":\"{dst}\",\"protocol\":\"{protocol}\",\"ports\":{{\"start\":{start},\"end\":{end}}}}}}}]}}";

    /// <summary>A call to the external API (plain HTTP on 4002 inside the control namespace).</summary>
    public async Task<(int Status, string Body)> Http(HttpMethod method, string path, string? body)
    {
        using var client = NsHttpClient(_control.Ns);
        using var req = new HttpRequestMessage(method, $"http://{ServerIp}:4002{path}");
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        try
        {
            using var resp = await client.SendAsync(req);
            return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException e) { return (0, e.Message); }
    }

    /// <summary>GET on an agent's local endpoint (127.0.0.1:8721 inside the cell namespace).</summary>
    public async Task<(int Status, string Body)> AgentGet(string cell, string path)
    {
        using var client = NsHttpClient(Cells[cell].Ns);
        try
        {
            using var resp = await client.GetAsync($"http://127.0.0.1:8721{path}");
            return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException e) { return (0, e.Message); }
    }

    /// <summary>An HttpClient whose connections are opened inside namespace <paramref name="ns"/>.</summary>
    public static HttpClient NsHttpClient(string ns) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (ctx, ct) =>
        {
            var s = CellFabric.Socket(ns, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await s.ConnectAsync(ctx.DnsEndPoint.Host is var h && IPAddress.TryParse(h, out var ip) ? new IPEndPoint(ip, ctx.DnsEndPoint.Port) : throw new ArgumentException(h), ct);
                return new NetworkStream(s, ownsSocket: true);
            }
            catch
            {
                s.Dispose();
                throw;
            }
        },
    }) { Timeout = TimeSpan.FromSeconds(60) }; // a liveness bound: a loaded CI machine can take seconds to answer

    /// <summary>Waits (up to 60 s) for a condition; throws with <paramref name="what"/> and optional diagnostics.</summary>
    public static void WaitUntil(Func<bool> condition, string what, Func<string>? diagnostics = null)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try { if (condition()) return; } catch (Exception) { }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"timed out waiting for {what}. {diagnostics?.Invoke()}");
    }

    public void Dispose()
    {
        foreach (var p in _agents.Values) { try { if (!p.HasExited) { p.Kill(); p.WaitForExit(); } } catch (InvalidOperationException) { } }
        StopServer();
        Fabric.Dispose();
        try { Directory.Delete(Dir, true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
