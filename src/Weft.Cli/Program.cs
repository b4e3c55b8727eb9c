using Weft.Cli;
using Weft.Cli.Cli;
using Weft.Cli.Commands;

return await WeftCli.Run(args, Console.Out, Console.Error);

namespace Weft.Cli
{
    /// <summary>The `weft` command: dispatch only; every command lives in Commands/.</summary>
    public static class WeftCli
    {
        public const string Usage = """
            weft: container-to-container networking for Linux (Cloud Foundry c2c compatible)

            usage: weft [--profile NAME] COMMAND ... [--json]

              policy add SRC DST [--protocol tcp|udp] [--port 8080|8080-8090]   allow SRC's instances to reach DST
              policy remove SRC DST [--protocol tcp|udp] [--port P]              remove that policy
              policy list [--app APP]                                            list policies (apps by name or id)
              lease list                                                         the cells' overlay subnet leases
              app list                                                           apps, instances, IPs, cells
              agent state --cell NAME                                            what a cell's agent enforces
              profile set|use|show|list|remove                                   which server, which token
              lab up|push|restart|exec|curl|status|down|demo|list                a whole deployment in namespaces
              completion bash|zsh                                                shell completion
              version

            start here: sudo bin/weft lab demo      (then: weft lab status --name demo)
            `weft COMMAND --help` explains a command.
            """;

        public static async Task<int> Run(string[] argv, TextWriter output, TextWriter error)
        {
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                return await Dispatch(argv, output, error, cts.Token);
            }
            catch (CliException e)
            {
                output.Flush();
                error.WriteLine($"weft: {e.Message}");
                if (e.Hint is not null) error.WriteLine(e.Hint.TrimEnd());
                return e.ExitCode;
            }
            catch (Weft.Linux.KernelException e)
            {
                output.Flush();
                error.WriteLine($"weft: {e.Message}");
                error.WriteLine(e.Errno == Weft.Linux.Errno.EPERM ? "this needs root: run it with sudo" : "the kernel refused it; `weft lab status` shows what the lab has");
                return ExitCodes.Failed;
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                error.WriteLine("weft: interrupted");
                return 130;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }

        private static async Task<int> Dispatch(string[] argv, TextWriter output, TextWriter error, CancellationToken ct)
        {
            // --profile NAME may stand anywhere before "--".
            var words = new List<string>(argv);
            string? profile = null;
            for (var i = 0; i < words.Count && words[i] != "--"; i++)
            {
                if (words[i] == "--profile" && i + 1 < words.Count) { profile = words[i + 1]; words.RemoveRange(i, 2); break; }
                if (words[i].StartsWith("--profile=", StringComparison.Ordinal)) { profile = words[i]["--profile=".Length..]; words.RemoveAt(i); break; }
            }
            var cmd = words.Count > 0 ? words[0] : "help";
            var verb = words.Count > 1 && !words[1].StartsWith('-') ? words[1] : "";
            var rest = words.Skip(verb == "" ? 1 : 2).ToList();
            var args = new Args($"{cmd} {verb}".Trim(), rest, ["udp", "all", "down"]);
            var ctx = new Context(output, error, profile, args.Flag("json"), ct);

            if (args.Help || cmd is "help" or "--help" or "-h")
            {
                output.Write(HelpFor(cmd == "help" && verb != "" ? verb : cmd) + "\n");
                return ExitCodes.Ok;
            }
            switch (cmd)
            {
                case "policy": return await PolicyCommands.Run(verb, args, ctx);
                case "lease": return await InfoCommands.Lease(verb, args, ctx);
                case "app": return await InfoCommands.App(verb, args, ctx);
                case "agent": return await InfoCommands.Agent(verb, args, ctx);
                case "profile": return ProfileCommands.Run(verb, args, ctx);
                case "lab": return await LabCommands.Run(verb, args, ctx);
                case "completion":
                    if (verb == "") throw new CliException("which shell?", "weft completion bash   or   weft completion zsh", ExitCodes.Usage);
                    return Completion.Run(verb, args, ctx);
                case "version" or "--version":
                    output.WriteLine("weft " + (typeof(WeftCli).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"));
                    return ExitCodes.Ok;
                default:
                    throw new CliException($"unknown command '{cmd}'", "run `weft help` for the list of commands", ExitCodes.Usage);
            }
        }

        private static string HelpFor(string cmd) => cmd switch
        {
            "policy" => PolicyCommands.Usage,
            "profile" => ProfileCommands.Usage,
            "lab" => LabCommands.Usage,
            "lease" => "usage: weft lease list [--json]\nthe overlay subnet leased by each cell (underlay IP, subnet, VTEP MAC)",
            "app" => "usage: weft app list [--json]\napps known to the server with their instances, overlay IPs and cells",
            "agent" => "usage: weft agent state --cell NAME [--lab LAB] [--json]\n       weft agent state --agent URL\nwhat the cell's agent enforces (its lease, remote cells, containers, tags and policy rules)",
            "completion" => "usage: weft completion bash|zsh\n  bash: source <(weft completion bash)\n  zsh:  source <(weft completion zsh)",
            _ => Usage,
        };
    }
}
