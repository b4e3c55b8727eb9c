using System.Text;
using Weft.Cli.Cli;

namespace Weft.Cli.Commands;

/// <summary>weft completion bash|zsh: a completion script generated from the command tree.</summary>
public static class Completion
{
    /// <summary>Command → subcommands → options. The source of truth for completion.</summary>
    public static readonly (string Command, (string Verb, string Options)[] Verbs)[] Tree =
    [
        ("policy", [("add", "--protocol --port --json"), ("remove", "--protocol --port --json"), ("list", "--app --json")]),
        ("lease", [("list", "--json")]),
        ("app", [("list", "--json")]),
        ("agent", [("state", "--cell --lab --agent --json")]),
        ("profile", [("set", "--server --token-file --ca --netns"), ("use", ""), ("show", "--json"), ("list", "--json"), ("remove", "")]),
        ("lab", [("up", "--cells --name"), ("push", "--cell --instances --port --name"), ("restart", "--name"), ("exec", "--name"),
                 ("curl", "--port --udp --timeout --json --name"), ("status", "--json --name"), ("down", "--name --all"), ("demo", "--name --down"), ("list", "--json")]),
        ("completion", [("bash", ""), ("zsh", "")]),
        ("version", []),
        ("help", []),
    ];

    public static int Run(string shell, Args args, Context ctx)
    {
        args.Done();
        ctx.Out.Write(shell switch
        {
            "bash" => Bash(),
            "zsh" => "autoload -U +X bashcompinit && bashcompinit\n" + Bash(),
            _ => throw new CliException($"unknown shell '{shell}'", "weft completion bash  (source <(weft completion bash))  or  weft completion zsh", ExitCodes.Usage),
        });
        return ExitCodes.Ok;
    }

    private static string Bash()
    {
        var sb = new StringBuilder();
        sb.Append("# weft completion for bash: source <(weft completion bash)\n");
        sb.Append("_weft() {\n  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} verb=${COMP_WORDS[2]}\n");
        sb.Append("  if [ $COMP_CWORD -eq 1 ]; then COMPREPLY=($(compgen -W \"")
          .Append(string.Join(' ', Tree.Select(t => t.Command))).Append(" --profile\" -- \"$cur\")); return; fi\n");
        sb.Append("  if [ $COMP_CWORD -eq 2 ]; then case $cmd in\n");
        foreach (var (c, verbs) in Tree.Where(t => t.Verbs.Length > 0))
            sb.Append("    ").Append(c).Append(") COMPREPLY=($(compgen -W \"").Append(string.Join(' ', verbs.Select(v => v.Verb))).Append("\" -- \"$cur\"));;\n");
        sb.Append("  esac; return; fi\n");
        sb.Append("  case \"$cmd $verb\" in\n");
        foreach (var (c, verbs) in Tree)
            foreach (var (v, o) in verbs.Where(v => v.Options.Length > 0))
                sb.Append("    \"").Append(c).Append(' ').Append(v).Append("\") COMPREPLY=($(compgen -W \"").Append(o).Append("\" -- \"$cur\"));;\n");
        sb.Append("  esac\n}\ncomplete -o default -F _weft weft\n");
        return sb.ToString();
    }
}
