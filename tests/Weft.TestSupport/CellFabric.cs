using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Weft.TestSupport;

/// <summary>
/// A throwaway multi-cell topology for agent tests: an underlay namespace with a bridge
/// (198.18.0.0/24), one namespace per cell attached to it by a veth (cell's <c>eth0</c>), and container
/// namespaces attached to a cell the way weft-cni attaches them (host veth <c>w-&lt;ip&gt;</c> with
/// 169.254.0.1, container <c>eth0</c> with the /32, default route via 169.254.0.1). Everything is named
/// <c>wefttest-&lt;id&gt;-…</c> and removed on Dispose (also after a failed test).
/// </summary>
public sealed partial class CellFabric : IDisposable
{
    private readonly List<string> _namespaces = [];
    private readonly List<Process> _processes = [];

    public CellFabric()
    {
        // Starts with a letter: TestNetns sweeps wefttest-<pid>-* of dead pids, and an all-digit id would look like one.
        // 44 random bits: fabrics of parallel tests and projects never share a name (with 20 bits, `ip netns add`
        // failed with "File exists" about once in ten thousand runs).
        Id = "f" + Guid.NewGuid().ToString("N")[..11];
        Underlay = Ns("ul");
        Sh($"ip netns add {Underlay}");
        try
        {
            Sh($"ip -n {Underlay} link set lo up");
            Sh($"ip -n {Underlay} link add br0 type bridge");
            Sh($"ip -n {Underlay} link set br0 up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Id { get; }

    /// <summary>The underlay namespace (holds bridge br0).</summary>
    public string Underlay { get; }

    public string Ns(string suffix) => $"wefttest-{Id}-{suffix}";

    /// <summary>Adds a namespace attached to the underlay bridge with <paramref name="underlayIp"/>/24 on its eth0.</summary>
    public FabricCell AddCell(string name, string underlayIp, int mtu = 1500)
    {
        var ns = Ns(name);
        Sh($"ip netns add {ns}");
        _namespaces.Add(ns);
        Sh($"ip -n {ns} link set lo up");
        // Made directly in the underlay namespace (IFLA_NET_NS_FD), so its name need only be unique there.
        var ul = $"u-{name}";
        if (ul.Length > 15) ul = ul[..15];
        Sh($"ip link add {ul} mtu {mtu} netns {Underlay} type veth peer name eth0 mtu {mtu} netns {ns}");
        Sh($"ip -n {Underlay} link set {ul} master br0 up");
        Sh($"ip -n {ns} addr add {underlayIp}/24 dev eth0");
        Sh($"ip -n {ns} link set eth0 up");
        Sh($"ip netns exec {ns} sysctl -qw net.ipv4.ip_forward=1");
        WaitUp(Underlay, ul);
        WaitUp(ns, "eth0");
        return new FabricCell(this, name, ns, IPAddress.Parse(underlayIp));
    }

    /// <summary>
    /// Adds a container namespace on <paramref name="cell"/> with <paramref name="ip"/>, attached like weft-cni
    /// does it; returns it with the host veth name. The test writes the record itself (or uses weft-cni).
    /// </summary>
    public FabricContainer AddContainer(FabricCell cell, string name, string ip, int mtu = 1450)
    {
        var ns = Ns(name);
        Sh($"ip netns add {ns}");
        _namespaces.Insert(0, ns);
        Sh($"ip -n {ns} link set lo up");
        var veth = "w-" + string.Concat(ip.Split('.').Select(o => o.PadLeft(3, '0')));
        Sh($"ip -n {cell.Ns} link add {veth} mtu {mtu} type veth peer name eth0 mtu {mtu} netns {ns}");
        Sh($"ip -n {cell.Ns} addr add 169.254.0.1/32 dev {veth}");
        Sh($"ip -n {cell.Ns} link set {veth} up");
        Sh($"ip -n {cell.Ns} route add {ip}/32 dev {veth}");
        Sh($"ip -n {ns} addr add {ip}/32 dev eth0");
        Sh($"ip -n {ns} link set eth0 up");
        Sh($"ip -n {ns} route add 169.254.0.1 dev eth0 scope link");
        Sh($"ip -n {ns} route add default via 169.254.0.1 dev eth0");
        WaitUp(cell.Ns, veth);
        WaitUp(ns, "eth0");
        return new FabricContainer(name, ns, IPAddress.Parse(ip), veth);
    }

    /// <summary>
    /// Waits (up to 60 s) until the kernel's link watch has seen <paramref name="dev"/>'s carrier (operstate UP).
    /// Until then a veth still has the no-op qdisc (and a bridge port does not forward): what is sent is dropped,
    /// and a test sending a single datagram right after attaching would wait for it in vain.
    /// </summary>
    public static void WaitUp(string ns, string dev)
    {
        var sw = Stopwatch.StartNew();
        while (!Sh($"ip -n {ns} -o link show dev {dev}").Contains(" state UP ", StringComparison.Ordinal))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"{dev} in {ns} did not come up: {Sh($"ip -n {ns} -o link show dev {dev}")}");
            Thread.Sleep(5);
        }
    }

    /// <summary>Creates an empty namespace (loopback up), removed on Dispose.</summary>
    public string AddNamespace(string suffix)
    {
        var ns = Ns(suffix);
        Sh($"ip netns add {ns}");
        _namespaces.Insert(0, ns);
        Sh($"ip -n {ns} link set lo up");
        return ns;
    }

    /// <summary>Starts a process inside a namespace (killed by pid on Dispose).</summary>
    public Process Start(string ns, string file, IEnumerable<string> args, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add($"--net=/run/netns/{ns}");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        _processes.Add(p);
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try { if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(5000); } } catch (InvalidOperationException) { }
            p.Dispose();
        }
        foreach (var ns in _namespaces) Run("ip", $"netns del {ns}");
        Run("ip", $"netns del {Underlay}");
    }

    /// <summary>Runs a shell-free command line (split on spaces); throws with its stderr when it fails.</summary>
    public static string Sh(string commandLine)
    {
        var parts = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var (rc, output) = Run(parts[0], string.Join(' ', parts.Skip(1)));
        if (rc != 0) throw new InvalidOperationException($"`{commandLine}` failed ({rc}): {output}");
        return output;
    }

    public static (int Rc, string Output) Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    /// <summary>Runs <paramref name="func"/> on a fresh OS thread inside namespace <paramref name="ns"/>.
    /// A socket created there stays in that namespace and can be used from any thread.</summary>
    public static T InNetns<T>(string ns, Func<T> func)
    {
        T? result = default;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                using var fd = File.OpenHandle($"/run/netns/{ns}", FileMode.Open, FileAccess.Read);
                if (setns((int)fd.DangerousGetHandle(), 0x40000000 /* CLONE_NEWNET */) != 0)
                    throw new InvalidOperationException($"setns {ns}: errno {Marshal.GetLastPInvokeError()}");
                result = func();
            }
            catch (Exception e) { error = e; }
        });
        t.Start();
        t.Join();
        if (error is not null) throw new InvalidOperationException($"in {ns}: {error.Message}", error);
        return result!;
    }

    public static Socket Socket(string ns, SocketType type, ProtocolType proto) =>
        InNetns(ns, () => new Socket(AddressFamily.InterNetwork, type, proto));

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}

public sealed record FabricCell(CellFabric Fabric, string Name, string Ns, IPAddress UnderlayIp);

public sealed record FabricContainer(string Name, string Ns, IPAddress Ip, string HostVeth);
