using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Weft.Cli.Cli;
using Weft.Cli.Lab;

namespace Weft.Cli.Commands;

/// <summary>weft lease list, weft app list, weft agent state: read-only views of a deployment.</summary>
public static class InfoCommands
{
    public static async Task<int> Lease(string verb, Args args, Context ctx)
    {
        if (verb != "list") throw new CliException($"unknown lease command '{verb}'", "usage: weft lease list [--json]", ExitCodes.Usage);
        args.Done();
        using var client = ctx.Client();
        using var doc = await client.GetDocument("/weft/v1/leases", ctx.Cancel);
        if (ctx.Json) { ctx.Out.WriteLine(Pretty(doc)); return ExitCodes.Ok; }
        var table = new Table("underlay ip", "overlay subnet", "vtep mac");
        foreach (var l in Array(doc.RootElement, "leases"))
            table.Add(Str(l, "underlay_ip"), Str(l, "overlay_subnet"), Str(l, "overlay_hardware_addr"));
        ctx.Out.Write(table.Count == 0 ? "no leases\n" : table.ToString());
        return ExitCodes.Ok;
    }

    public static async Task<int> App(string verb, Args args, Context ctx)
    {
        if (verb != "list") throw new CliException($"unknown app command '{verb}'", "usage: weft app list [--json]", ExitCodes.Usage);
        args.Done();
        using var client = ctx.Client();
        using var doc = await client.GetDocument("/weft/v1/apps", ctx.Cancel);
        if (ctx.Json) { ctx.Out.WriteLine(Pretty(doc)); return ExitCodes.Ok; }
        var names = await AppDirectory.Load(client, ctx.Profile, ctx.Cancel, doc);
        string? Name(JsonElement a) => Str(a, "name") ?? names.NameOf(Str(a, "id") ?? "");
        var table = new Table("app", "id", "tag", "instance", "ip", "cell");
        foreach (var a in Array(doc.RootElement, "apps").OrderBy(a => Name(a) ?? Str(a, "id"), StringComparer.Ordinal))
        {
            var instances = Array(a, "instances").OrderBy(i => i.TryGetProperty("instance_index", out var x) && x.TryGetInt32(out var n) ? n : 0).ToList();
            if (instances.Count == 0) table.Add(Name(a) ?? "-", Str(a, "id"), Str(a, "tag") ?? "-", "-", "-", "-");
            foreach (var i in instances)
                table.Add(Name(a) ?? "-", Str(a, "id"), Str(a, "tag") ?? "-", i.TryGetProperty("instance_index", out var ix) ? ix.ToString() : "-", Str(i, "ip"), Str(i, "cell_id"));
        }
        ctx.Out.Write(table.Count == 0 ? "no apps\n" : table.ToString());
        return ExitCodes.Ok;
    }

    /// <summary>
    /// weft agent state --cell NAME: what a cell's agent enforces, from its local endpoint. In a lab the
    /// CLI connects inside the cell's namespace; elsewhere pass --agent URL (run it on the cell).
    /// </summary>
    public static async Task<int> Agent(string verb, Args args, Context ctx)
    {
        if (verb != "state") throw new CliException($"unknown agent command '{verb}'", "usage: weft agent state --cell NAME [--lab LAB] [--json]  |  weft agent state --agent URL", ExitCodes.Usage);
        var cellName = args.Option("cell");
        var agentUrl = args.Option("agent");
        var labName = args.Option("lab");
        args.Done();
        string? netns = null;
        if (agentUrl is null)
        {
            if (cellName is null) throw new CliException("which cell?", "weft agent state --cell cell-1 (in a lab), or --agent http://127.0.0.1:PORT on a cell", ExitCodes.Usage);
            labName ??= ctx.Profile.Lab ?? throw new CliException("the current profile is not a lab", "pass --agent URL (the agent's local endpoint on that cell)", ExitCodes.Usage);
            var state = LabState.Load(LabPlan.For(labName).StateFile) ?? throw new CliException($"lab '{labName}' is not up", "run: weft lab up");
            var cell = state.Cells.FirstOrDefault(c => c.Name == cellName)
                ?? throw new CliException($"lab '{labName}' has no cell '{cellName}'", $"cells: {string.Join(", ", state.Cells.Select(c => c.Name))}", ExitCodes.Usage);
            netns = cell.Netns;
            agentUrl = Components.AgentStateUrl;
        }
        var body = await HttpGet(agentUrl, netns, ctx.Cancel);
        try
        {
            using var doc = JsonDocument.Parse(body);
            ctx.Out.WriteLine(Pretty(doc));
        }
        catch (JsonException) { ctx.Out.Write(body); }
        return ExitCodes.Ok;
    }

    /// <summary>A plain HTTP/1.0 GET, optionally from inside a namespace (agent endpoints listen on the cell's loopback).</summary>
    public static async Task<string> HttpGet(string url, string? netns, CancellationToken ct)
    {
        var uri = new Uri(url);
        var ip = IPAddress.Parse(uri.Host);
        try
        {
            using var s = netns is null ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : NetnsSockets.Open(netns, ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(5));
            await s.ConnectAsync(new IPEndPoint(ip, uri.Port), cts.Token);
            await s.SendAsync(Encoding.ASCII.GetBytes($"GET {uri.PathAndQuery} HTTP/1.0\r\nHost: {uri.Authority}\r\n\r\n"), SocketFlags.None, cts.Token);
            using var ms = new MemoryStream();
            var buf = new byte[16384];
            int n;
            while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) ms.Write(buf, 0, n);
            var text = Encoding.UTF8.GetString(ms.ToArray());
            var at = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var status = text.Split('\n')[0].Trim();
            if (!status.Contains(" 200", StringComparison.Ordinal)) throw new CliException($"{url} answered {status}");
            return at >= 0 ? text[(at + 4)..] : text[(text.IndexOf("\n\n", StringComparison.Ordinal) + 1)..].TrimStart('\n');
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or Weft.Linux.KernelException)
        {
            throw new CliException($"cannot reach the agent at {url}{(netns is null ? "" : " in " + netns)}: {e.Message}", "is the agent running? weft lab status", ExitCodes.Unreachable);
        }
    }

    internal static string Pretty(JsonDocument doc)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true })) doc.WriteTo(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    internal static IEnumerable<JsonElement> Array(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : [];

    internal static string? Str(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.ToString() : null;
}
