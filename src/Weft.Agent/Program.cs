using System.Runtime.InteropServices;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Weft.Agent;
using Weft.Agent.Dataplane;
using Weft.Agent.Server;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.Error.WriteLine(AgentOptions.Usage);
    return args.Length == 0 ? 2 : 0;
}

AgentOptions options;
try
{
    options = AgentOptions.Parse(args.Skip(1).ToList());
    if (args[0] == "run") options.ValidateForRun();
}
catch (Exception e) when (e is ArgumentException or FormatException or IOException or JsonException)
{
    Console.Error.WriteLine($"weft-agent: {e.Message}");
    Console.Error.WriteLine(AgentOptions.Usage);
    return 2;
}

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss.fff "; }));
var log = loggerFactory.CreateLogger("weft-agent");

switch (args[0])
{
    case "teardown":
    {
        using var cp = options.Server is not null && options.Ca is not null && options.Cert is not null && options.Key is not null
            ? new HttpControlPlane(options.Server, options.Ca, options.Cert, options.Key) : null;
        using var dp = new LinuxDataplane(null, new VtepConfig(options.VtepName));
        await CellAgent.TeardownAsync(options, cp, dp, log, CancellationToken.None);
        Console.WriteLine($"weft-agent: torn down ({options.VtepName} and table inet weft deleted{(cp is null ? "" : ", lease released")})");
        return 0;
    }
    case "run":
        return await AgentHost.RunAsync(options, loggerFactory);
    default:
        Console.Error.WriteLine($"weft-agent: unknown command '{args[0]}'");
        Console.Error.WriteLine(AgentOptions.Usage);
        return 2;
}

namespace Weft.Agent
{
    /// <summary>Wires the agent: control plane client, dataplane, core, and the local HTTP endpoints.</summary>
    public static class AgentHost
    {
        public static async Task<int> RunAsync(AgentOptions o, ILoggerFactory loggerFactory)
        {
            var log = loggerFactory.CreateLogger("weft-agent");
            using var cp = new HttpControlPlane(o.Server!, o.Ca!, o.Cert!, o.Key!);
            using var dp = new LinuxDataplane(null, new VtepConfig(o.VtepName));
            var agent = new CellAgent(o, cp, dp, loggerFactory.CreateLogger<CellAgent>());
            var cts = new CancellationTokenSource(); // not disposed: ProcessExit may fire after RunAsync returns
            // SIGTERM/SIGINT stop the loops and the process exits 0. Fail static: nothing is torn
            // down (the table keeps enforcing, the lease stays); `weft-agent teardown` does that.
            void Stop(PosixSignalContext ctx) { ctx.Cancel = true; cts.Cancel(); }
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => cts.Cancel();

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPEndPoint.Parse(o.Listen)));
            var app = builder.Build();
            MapEndpoints(app, agent);
            await app.StartAsync(cts.Token);
            // The web host's own signal handling stops only the web host: stop the agent with it.
            using var stopping = app.Lifetime.ApplicationStopping.Register(cts.Cancel);
            try
            {
                await agent.RunAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested) { }
            catch (Exception e) when (!cts.IsCancellationRequested)
            {
                log.LogCritical("weft-agent stopped: {Error}", e.Message);
                await StopWebAsync(app);
                return 1;
            }
            catch (Exception e)
            {
                // Asked to stop; a loop ended with another error on its way out: still a clean stop.
                log.LogWarning("weft-agent stopping: {Error}", e.Message);
            }
            await StopWebAsync(app);
            log.LogInformation("weft-agent stopped (table and lease left in place)");
            return 0;
        }

        private static async Task StopWebAsync(WebApplication app)
        {
            using var t = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try { await app.StopAsync(t.Token); }
            catch (OperationCanceledException) { }
        }

        public static void MapEndpoints(WebApplication app, CellAgent agent)
        {
            app.MapGet("/health", (HttpContext ctx) =>
            {
                var ready = agent.Ready && agent.AppliedTable is not null;
                ctx.Response.StatusCode = ready ? 200 : 503;
                return ctx.Response.WriteAsync(JsonSerializer.Serialize(new AgentHealth(
                    ready ? "ok" : "starting", agent.ServerReachable, agent.Lease?.Subnet.ToString(), agent.Cluster?.Revision), AgentJson.Default.AgentHealth));
            });
            app.MapGet("/metrics", (HttpContext ctx) =>
            {
                ctx.Response.ContentType = "text/plain; version=0.0.4";
                return ctx.Response.WriteAsync(agent.Metrics.Render());
            });
            app.MapGet("/state", (HttpContext ctx) =>
            {
                ctx.Response.ContentType = "application/json";
                return ctx.Response.WriteAsync(JsonSerializer.Serialize(agent.View(), AgentJson.Default.AgentStateView));
            });
        }
    }

    public sealed record AgentHealth(string Status, bool ServerReachable, string? Subnet, long? Revision);

    [JsonSerializable(typeof(AgentHealth))]
    [JsonSerializable(typeof(AgentStateView))]
    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
    internal sealed partial class AgentJson : JsonSerializerContext;
}
