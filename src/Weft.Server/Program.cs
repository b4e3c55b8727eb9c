using Weft.Server;
using Weft.Server.Commands;
using Weft.Server.Hosting;
using Weft.Server.Security;

return await Cli.RunAsync(args);

namespace Weft.Server
{
    /// <summary>weft-server's command line: run (default), init, token, agent-cert.</summary>
    public static class Cli
    {
        public const string Usage = """
            usage:
              weft-server [run] --config DIR/weft-server.json
                  Runs the control plane. Environment overrides: WEFT_SERVER__SECTION__KEY,
                  e.g. WEFT_SERVER__DATABASE__ENGINE=postgres WEFT_SERVER__DATABASE__CONNECTIONSTRING=...
              weft-server init --dir DIR [--server-ip IP]... [--server-dns NAME]...
                               [--agents N | --agent-names cell-1,cell-2] [--external-address A] [--external-port P]
                               [--internal-address A] [--internal-port P] [--postgres CONNSTR] [--force]
                  Writes ca.crt/key, server.crt/key, agents/<name>.crt/key, tokens.json, admin.token, weft-server.json.
              weft-server agent-cert --dir DIR --name cell-3
                  Issues one more agent client certificate from DIR/ca.key.
              weft-server token add --config FILE --subject NAME --scope network.write [--scope ...]
              weft-server token list --config FILE
              weft-server token remove --config FILE --subject NAME
            """;

        public static async Task<int> RunAsync(string[] args)
        {
            try
            {
                var cmd = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "run";
                var rest = cmd == "run" && (args.Length == 0 || args[0].StartsWith('-')) ? args : args[1..];
                switch (cmd)
                {
                    case "run":
                        return await RunServerAsync(rest);
                    case "init":
                        return Init(rest);
                    case "agent-cert":
                    {
                        var a = new Args(rest);
                        InitCommand.AddAgent(a.Required("--dir"), a.Required("--name"), Console.Out);
                        return 0;
                    }
                    case "token":
                        return Token(rest);
                    case "help" or "--help" or "-h":
                        Console.WriteLine(Usage);
                        return 0;
                    default:
                        Console.Error.WriteLine($"weft-server: unknown command '{cmd}'\n{Usage}");
                        return 2;
                }
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"weft-server: {e.Message}\n{Usage}");
                return 2;
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or FileNotFoundException or IOException
                                          or System.Security.Cryptography.CryptographicException or FormatException)
            {
                Console.Error.WriteLine($"weft-server: {e.Message}");
                return 1;
            }
        }

        private static async Task<int> RunServerAsync(string[] rest)
        {
            var a = new Args(rest);
            var config = a.Optional("--config") ?? Environment.GetEnvironmentVariable("WEFT_SERVER_CONFIG")
                ?? throw new UsageException("--config FILE is required");
            var options = ServerOptions.Load(config);
            await using var host = await WeftServerHost.StartAsync(options);
            await host.WaitForShutdownAsync();
            return 0;
        }

        private static int Init(string[] rest)
        {
            var a = new Args(rest);
            var names = new List<string>();
            if (a.Optional("--agent-names") is { } list) names.AddRange(list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            var count = a.Optional("--agents") is { } n ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : (names.Count == 0 ? 1 : 0);
            for (var i = 1; i <= count; i++) names.Add($"cell-{i}");
            InitCommand.Run(new InitCommand.InitOptions
            {
                Dir = a.Required("--dir"),
                ServerIps = a.All("--server-ip").SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList(),
                ServerDns = a.All("--server-dns").SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList(),
                AgentNames = names.Distinct().ToList(),
                Force = a.Flag("--force"),
                ExternalAddress = a.Optional("--external-address") ?? "0.0.0.0",
                ExternalPort = int.Parse(a.Optional("--external-port") ?? "4002", System.Globalization.CultureInfo.InvariantCulture),
                InternalAddress = a.Optional("--internal-address") ?? "0.0.0.0",
                InternalPort = int.Parse(a.Optional("--internal-port") ?? "4003", System.Globalization.CultureInfo.InvariantCulture),
                PostgresConnectionString = a.Optional("--postgres"),
            }, Console.Out);
            return 0;
        }

        private static int Token(string[] rest)
        {
            if (rest.Length == 0) throw new UsageException("token needs a subcommand: add, list or remove");
            var a = new Args(rest[1..]);
            var options = ServerOptions.Load(a.Required("--config"));
            var path = options.TokensFile;
            switch (rest[0])
            {
                case "add":
                {
                    var scopes = a.All("--scope").SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList();
                    if (scopes.Count == 0) throw new UsageException("token add needs --scope network.admin or --scope network.write");
                    var unknown = scopes.FirstOrDefault(s => !AuthScopes.Known.Contains(s));
                    if (unknown is not null) throw new UsageException($"unknown scope '{unknown}' (known: network.admin, network.write)");
                    Console.WriteLine(TokenStore.Add(path, a.Required("--subject"), scopes));
                    return 0;
                }
                case "list":
                    foreach (var t in TokenStore.Read(path).Tokens)
                        Console.WriteLine($"{t.Subject}\t{string.Join(',', t.Scopes)}\t{t.CreatedAt:u}\tsha256:{t.Sha256[..12]}…");
                    return 0;
                case "remove":
                {
                    var subject = a.Required("--subject");
                    var file = TokenStore.Read(path);
                    var removed = file.Tokens.RemoveAll(t => t.Subject == subject);
                    TokenStore.Write(path, file);
                    Console.WriteLine($"removed {removed} token(s) of {subject}");
                    return removed > 0 ? 0 : 1;
                }
                default:
                    throw new UsageException($"unknown token subcommand '{rest[0]}'");
            }
        }
    }

    internal sealed class UsageException(string message) : Exception(message);

    /// <summary>Minimal "--name value" / "--name=value" / "--flag" parsing.</summary>
    internal sealed class Args
    {
        private readonly List<(string Name, string? Value)> _items = [];

        public Args(string[] args)
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                if (!a.StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unexpected argument '{a}'");
                var eq = a.IndexOf('=');
                if (eq > 0) _items.Add((a[..eq], a[(eq + 1)..]));
                else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) _items.Add((a, args[++i]));
                else _items.Add((a, null));
            }
        }

        public string? Optional(string name) => _items.LastOrDefault(x => x.Name == name).Value;
        public string Required(string name) => Optional(name) ?? throw new UsageException($"{name} is required");
        public IEnumerable<string> All(string name) => _items.Where(x => x.Name == name && x.Value is not null).Select(x => x.Value!);
        public bool Flag(string name) => _items.Any(x => x.Name == name);
    }
}
