using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Weft.Linux;
using Weft.TestSupport;

namespace Weft.Cni.Tests.Root;

/// <summary>What one plugin process did.</summary>
public sealed record PluginRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The CNI error code of a failed run (asserts the output is error JSON).</summary>
    public int ErrorCode
    {
        get
        {
            Assert.NotEqual(0, ExitCode);
            using var doc = JsonDocument.Parse(Stdout);
            Assert.True(doc.RootElement.TryGetProperty("msg", out _), Stdout);
            return doc.RootElement.GetProperty("code").GetInt32();
        }
    }

    public PluginRun Ok()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Stdout} {Stderr}");
        return this;
    }
}

/// <summary>
/// A "host" namespace (standing in for the cell) with state and data directories, and a way to run
/// bin/weft-cni inside it the way a runtime does: <c>nsenter --net=/run/netns/&lt;host&gt; bin/weft-cni</c>
/// with the CNI variables and the config on stdin.
/// </summary>
public sealed class CniHost : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public CniHost(string subnet = "10.255.12.0/24")
    {
        Subnet = subnet;
        Dirs = new TestDirs();
        Host = TestNetns.Create("host");
    }

    public string Subnet { get; }

    public TestDirs Dirs { get; }

    public TestNetns Host { get; }

    public static string RepoRoot => Repo.Root;

    public static string PluginPath
    {
        get
        {
            var path = Path.Combine(RepoRoot, "bin", "weft-cni");
            return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: run ./build.sh first");
        }
    }

    /// <summary>The standalone config (subnet + MTU 1400 in the config), or with <paramref name="extra"/> spliced in.</summary>
    public string Conf(string version = "1.1.0", string extra = "") =>
        Encoding.UTF8.GetString(Dirs.Config(version, Subnet, extra));

    /// <summary>A container namespace (deleted with this host).</summary>
    public TestNetns Container(string suffix)
    {
        var c = TestNetns.Create(suffix);
        _owned.Add(c);
        return c;
    }

    public PluginRun Run(string command, string? stdin, string? id = "c1", string? netns = null, string? ifName = "eth0", string? args = null, string? file = null, string? cniPath = null) =>
        RunIn(Host.Name, file ?? PluginPath, command, stdin, id, netns, ifName, args, cniPath);

    public PluginRun Add(TestNetns c, string? conf = null, string id = "c1", string? args = null) =>
        Run("ADD", conf ?? Conf(), id, NetnsPath(c), args: args);

    public PluginRun Del(TestNetns? c, string? conf = null, string id = "c1") =>
        Run("DEL", conf ?? Conf(), id, c is null ? null : NetnsPath(c));

    public static string NetnsPath(TestNetns c) => $"{NetNs.RunDir}/{c.Name}";

    public static PluginRun RunIn(string hostNs, string file, string command, string? stdin, string? id, string? netns, string? ifName, string? args = null, string? cniPath = null)
    {
        var psi = new ProcessStartInfo("nsenter")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add($"--net={NetNs.RunDir}/{hostNs}");
        psi.ArgumentList.Add(file);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("CNI_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        void Set(string key, string? value)
        {
            if (value is not null)
            {
                psi.Environment[key] = value;
            }
        }

        Set("CNI_COMMAND", command);
        Set("CNI_CONTAINERID", id);
        Set("CNI_NETNS", netns);
        Set("CNI_IFNAME", ifName);
        Set("CNI_ARGS", args);
        Set("CNI_PATH", cniPath ?? "/usr/lib/cni");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(stdin ?? "");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new PluginRun(p.ExitCode, stdout, stderr.Result);
    }

    /// <summary>
    /// Names of the host namespace's links other than lo, once the background deletions DEL started are done
    /// (a DEL leaves its veth without its address for a detached weft-cni to delete; waits up to 60 s: after a hundred
    /// concurrent DELs on a loaded machine, a hundred reapers queue for the kernel's rtnl lock and RCU grace periods).
    /// </summary>
    public List<string> HostLinks()
    {
        List<string> names;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            var links = Host.Netlink.LinkList();
            names = links.Select(l => l.Name).Where(n => n != "lo").Order().ToList();
            if (!links.Any(l => LinuxAttachmentDriver.IsWeftVeth(l) && Host.Netlink.AddrList(l.Index, System.Net.Sockets.AddressFamily.InterNetwork).Count == 0))
            {
                break;
            }

            Thread.Sleep(20);
        }
        while (DateTime.UtcNow < deadline);
        return names;
    }

    public IpamState Store => new IpamStore(Dirs.DataDir).Read();

    public ContainerRecords Records => new(Dirs.StateDir);

    /// <summary>No link, allocation or record left.</summary>
    public void AssertEmpty()
    {
        Assert.Empty(HostLinks());
        Assert.Empty(Store.Allocations);
        Assert.Empty(Records.List());
    }

    /// <summary>
    /// Runs <c>busybox ping</c> inside <paramref name="from"/>; true when a reply came back (three tries: a veth's
    /// carrier comes up asynchronously, so the very first packet after ADD may be dropped on a loaded machine).
    /// </summary>
    public static bool Ping(TestNetns from, string ip)
    {
        for (var i = 0; i < 3; i++)
        {
            try
            {
                from.Exec("/bin/busybox", "ping", "-c", "1", "-W", "2", ip);
                return true;
            }
            catch (CmdException)
            {
            }
        }

        return false;
    }

    public void Dispose()
    {
        foreach (var o in _owned)
        {
            o.Dispose();
        }

        Host.Dispose();
        Dirs.Dispose();
    }
}
