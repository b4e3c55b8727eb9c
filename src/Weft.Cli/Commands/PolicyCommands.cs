using System.Text.Json;
using Weft.Cli.Api;
using Weft.Cli.Cli;

namespace Weft.Cli.Commands;

/// <summary>weft policy add|remove|list — the cf CLI's network-policy commands against the CF v1 external API.</summary>
public static class PolicyCommands
{
    public const string Usage = """
        usage:
          weft policy add SOURCE DESTINATION [--protocol tcp|udp] [--port 8080|8080-8090]
          weft policy remove SOURCE DESTINATION [--protocol tcp|udp] [--port 8080|8080-8090]
          weft policy list [--app APP] [--json]

        SOURCE and DESTINATION are app names or app ids. Defaults: --protocol tcp --port 8080.
        A policy lets SOURCE's instances open connections to DESTINATION's instances on those ports.
        """;

    public static async Task<int> Run(string verb, Args args, Context ctx)
    {
        switch (verb)
        {
            case "add":
            case "remove":
            {
                var src = args.Positional("SOURCE app");
                var dst = args.Positional("DESTINATION app");
                var (protocol, ports) = ParseTarget(args);
                args.Done();
                using var client = ctx.Client();
                var apps = await AppDirectory.Load(client, ctx.Profile, ctx.Cancel);
                var policy = new Policy(new PolicySource(apps.Resolve(src, ctx.Err)), new PolicyDestination(apps.Resolve(dst, ctx.Err), protocol, ports));
                if (verb == "add") await client.CreatePolicies([policy], ctx.Cancel);
                else await client.DeletePolicies([policy], ctx.Cancel);
                if (ctx.Json) ctx.Out.WriteLine(JsonSerializer.Serialize(new PolicyList(1, [policy]), CliJson.Default.PolicyList));
                else ctx.Out.WriteLine(verb == "add"
                    ? $"allowed {src} -> {dst} on {protocol}/{ports}"
                    : $"removed {src} -> {dst} on {protocol}/{ports}");
                return ExitCodes.Ok;
            }
            case "list":
            {
                var app = args.Option("app");
                args.Done();
                using var client = ctx.Client();
                var apps = await AppDirectory.Load(client, ctx.Profile, ctx.Cancel);
                var list = await client.ListPolicies(app is null ? null : [apps.Resolve(app, ctx.Err)], ctx.Cancel);
                if (ctx.Json)
                {
                    ctx.Out.WriteLine(JsonSerializer.Serialize(list, CliJson.Default.PolicyList));
                    return ExitCodes.Ok;
                }
                var table = new Table("source", "destination", "protocol", "ports");
                foreach (var p in list.Policies.OrderBy(p => apps.Display(p.Source.Id), StringComparer.Ordinal).ThenBy(p => apps.Display(p.Destination.Id), StringComparer.Ordinal).ThenBy(p => p.Destination.Ports.Start))
                    table.Add(apps.Display(p.Source.Id), apps.Display(p.Destination.Id), p.Destination.Protocol, p.Destination.Ports.ToString());
                if (table.Count == 0) ctx.Out.WriteLine(app is null ? "no policies" : $"no policies with {app}");
                else ctx.Out.Write(table.ToString());
                return ExitCodes.Ok;
            }
            default:
                throw new CliException(verb == "" ? "missing policy command" : $"unknown policy command '{verb}'", Usage, ExitCodes.Usage);
        }
    }

    /// <summary>--protocol (tcp|udp, default tcp) and --port (N or A-B, default 8080).</summary>
    public static (string Protocol, PolicyPorts Ports) ParseTarget(Args args)
    {
        var protocol = args.Option("protocol", "tcp")!;
        if (protocol is not ("tcp" or "udp"))
            throw new CliException($"invalid --protocol '{protocol}'", "use --protocol tcp or --protocol udp", ExitCodes.Usage);
        var portText = args.Option("port", "8080")!;
        var ports = PolicyPorts.TryParse(portText)
            ?? throw new CliException($"invalid --port '{portText}'", "use a port (8080) or a range (8080-8090) within 1-65535, start <= end", ExitCodes.Usage);
        return (protocol, ports);
    }
}
