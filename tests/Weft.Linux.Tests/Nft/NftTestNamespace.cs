using System.Diagnostics;
using System.Security.Cryptography;

namespace Weft.Linux.Tests.Nft;

/// <summary>A throwaway network namespace <c>wefttest-nft-&lt;random&gt;</c>, deleted on Dispose.</summary>
internal sealed class NftTestNamespace : IDisposable
{
    public NftTestNamespace(string tag = "nft")
    {
        Name = $"wefttest-{tag}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()}";
        Sh("ip", "netns", "add", Name);
        Sh("ip", "-n", Name, "link", "set", "lo", "up");
    }

    public string Name { get; }

    public string Path => $"/run/netns/{Name}";

    /// <summary>Runs a command inside the namespace and returns its stdout (throws on failure).</summary>
    public string Exec(params string[] args) => Sh(["ip", "netns", "exec", Name, .. args]);

    public void Dispose() => Sh("ip", "netns", "delete", Name);

    public static string Sh(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }
}
