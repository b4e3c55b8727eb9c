using Weft.Cli.Cli;

namespace Weft.Cli.Commands;

/// <summary>weft profile set|use|show|list|remove — which server the CLI talks to, and with which token.</summary>
public static class ProfileCommands
{
    public const string Usage = """
        usage:
          weft profile set NAME --server URL [--token-file FILE] [--ca FILE] [--netns NS]   (and make it current)
          weft profile use NAME
          weft profile show [NAME]
          weft profile list
          weft profile remove NAME
        `weft lab up` makes a profile lab-LAB for its lab. The file: $WEFT_CONFIG or ~/.config/weft/config.json.
        """;

    public static int Run(string verb, Args args, Context ctx)
    {
        var config = ProfileStore.Load();
        switch (verb)
        {
            case "set":
            {
                var name = args.Positional("profile NAME");
                var server = args.Option("server") ?? throw new CliException("missing --server URL", "e.g. weft profile set prod --server https://weft.example:4002 --token-file ~/.weft-token", ExitCodes.Usage);
                if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    throw new CliException($"invalid --server '{server}'", "use an http:// or https:// URL", ExitCodes.Usage);
                var tokenFile = args.Option("token-file");
                var ca = args.Option("ca");
                var netns = args.Option("netns");
                args.Done();
                foreach (var f in new[] { tokenFile, ca })
                    if (f is not null && !File.Exists(f)) throw new CliException($"{f} does not exist", "give the path of an existing file", ExitCodes.Usage);
                config.Profiles[name] = new Profile { Server = server, TokenFile = tokenFile is null ? null : Path.GetFullPath(tokenFile), CaFile = ca is null ? null : Path.GetFullPath(ca), Netns = netns };
                config.Current = name;
                ProfileStore.Save(config);
                ctx.Out.WriteLine($"profile {name} is current: {server}");
                return ExitCodes.Ok;
            }
            case "use":
            {
                var name = args.Positional("profile NAME");
                args.Done();
                if (!config.Profiles.ContainsKey(name)) throw new CliException($"no profile named '{name}'", $"known: {string.Join(", ", config.Profiles.Keys)}", ExitCodes.Usage);
                config.Current = name;
                ProfileStore.Save(config);
                ctx.Out.WriteLine($"profile {name} is current");
                return ExitCodes.Ok;
            }
            case "show":
            {
                var name = args.PositionalOrNull() ?? ctx.ProfileName;
                args.Done();
                var (n, p) = ProfileStore.Resolve(name);
                if (ctx.Json) { ctx.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new CliConfig { Current = n, Profiles = { [n] = p } }, CliJson.Default.CliConfig)); return 0; }
                var t = new Table("profile", n);
                t.Add("server", p.Server).Add("token file", p.TokenFile ?? "-").Add("ca", p.CaFile ?? "-").Add("netns", p.Netns ?? "-").Add("lab", p.Lab ?? "-").Add("config", ProfileStore.Path);
                ctx.Out.Write(t.ToString());
                return ExitCodes.Ok;
            }
            case "list":
            {
                args.Done();
                if (ctx.Json) { ctx.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(config, CliJson.Default.CliConfig)); return 0; }
                var t = new Table("", "profile", "server", "netns");
                foreach (var (n, p) in config.Profiles) t.Add(n == config.Current ? "*" : "", n, p.Server, p.Netns ?? "-");
                ctx.Out.Write(t.Count == 0 ? "no profiles (weft lab up, or weft profile set NAME --server URL)\n" : t.ToString());
                return ExitCodes.Ok;
            }
            case "remove":
            {
                var name = args.Positional("profile NAME");
                args.Done();
                if (!config.Profiles.Remove(name)) throw new CliException($"no profile named '{name}'", null, ExitCodes.Usage);
                if (config.Current == name) config.Current = null;
                ProfileStore.Save(config);
                ctx.Out.WriteLine($"removed profile {name}");
                return ExitCodes.Ok;
            }
            default:
                throw new CliException(verb == "" ? "missing profile command" : $"unknown profile command '{verb}'", Usage, ExitCodes.Usage);
        }
    }
}
