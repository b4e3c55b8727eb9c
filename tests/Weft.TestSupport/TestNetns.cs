using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Weft.Linux;

namespace Weft.TestSupport;

/// <summary>
/// A throwaway network namespace for a root test.
/// <code>
/// using var a = TestNetns.Create("a");          // /run/netns/wefttest-&lt;pid&gt;-&lt;random&gt;-a
/// a.Netlink.LinkSetUp("lo");                    // Weft.Linux handle opened inside it
/// a.Ip("-j link show");                         // `ip -n &lt;name&gt; -j link show`, stdout
/// a.Exec("ping", "-c1", "10.0.0.1");            // `ip netns exec &lt;name&gt; ping …`
/// </code>
/// Dispose closes every handle and deletes the namespace; everything inside (links, veth peers,
/// routes, nft tables) dies with it. Also dispose sockets you opened inside, or the namespace lives
/// until they are collected.
/// At first use, namespaces <c>wefttest-&lt;pid&gt;-*</c> left by test processes that are no longer
/// alive (an interrupted run) are deleted.
/// </summary>
public sealed class TestNetns : IDisposable
{
    /// <summary>Prefix of every test namespace.</summary>
    public const string Prefix = "wefttest-";

    private static readonly Lazy<int> Swept = new(SweepLeftovers);
    private Netlink? _netlink;
    private bool _disposed;

    private TestNetns(string name, NetNs ns)
    {
        Name = name;
        Ns = ns;
    }

    /// <summary>The namespace name under /run/netns.</summary>
    public string Name { get; }

    /// <summary>An open handle on the namespace (for <see cref="NetNs.Run(Action)"/>, <see cref="NetNs.OpenSocket"/>, IFLA_NET_NS_FD).</summary>
    public NetNs Ns { get; }

    /// <summary>A netlink handle inside the namespace, opened at first use and closed by Dispose.</summary>
    public Netlink Netlink => _netlink ??= Netlink.Open(Ns);

    /// <summary>Creates <c>wefttest-&lt;pid&gt;-&lt;6 hex&gt;-&lt;suffix&gt;</c> and brings its loopback up.</summary>
    public static TestNetns Create(string suffix)
    {
        _ = Swept.Value;
        string name = $"{Prefix}{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}-{suffix}";
        var ns = NetNs.Create(name);
        var t = new TestNetns(name, ns);
        try
        {
            t.Netlink.LinkSetUp("lo");
        }
        catch
        {
            t.Dispose();
            throw;
        }
        return t;
    }

    /// <summary>Runs <c>ip -n NAME ARGS</c> (arguments split on spaces) and returns stdout; throws when it fails.</summary>
    public string Ip(string args) => Cmd.Run("ip", ["-n", Name, .. Cmd.Split(args)]);

    /// <summary>Runs a program inside the namespace (<c>ip netns exec NAME FILE ARGS…</c>) and returns stdout; throws when it fails.</summary>
    public string Exec(string file, params string[] args) => Cmd.Run("ip", ["netns", "exec", Name, file, .. args]);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _netlink?.Dispose();
        Ns.Dispose();
        NetNs.TryDelete(Name);
    }

    public override string ToString() => Name;

    /// <summary>Deletes <c>wefttest-&lt;pid&gt;-*</c> namespaces whose pid is not alive. Returns how many.</summary>
    public static int SweepLeftovers()
    {
        int n = 0;
        foreach (string name in NetNs.List())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            string rest = name[Prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}")) continue;
            if (NetNs.TryDelete(name)) n++;
        }
        return n;
    }
}

/// <summary>Runs a command and returns its stdout; throws <see cref="CmdException"/> with stderr when it exits non-zero.</summary>
public static class Cmd
{
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new CmdException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {stderr.Result.Trim()}", p.ExitCode);
        return stdout;
    }

    /// <summary>Splits on spaces (no quoting).</summary>
    public static string[] Split(string args) => args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}

public sealed class CmdException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
