using System.Diagnostics;
using Weft.TestSupport;

namespace Weft.Cni.Tests.Root;

/// <summary>
/// A real runtime: podman (Debian, CNI backend) runs busybox containers on a <c>weft</c> network whose
/// conflist is weft-cni + portmap + bandwidth, inside a test namespace acting as the host. podman gets a
/// private root/runroot/tmpdir and containers.conf in a temp directory; it starts under
/// <c>nsenter --net=…</c> (its own netns for the container is created by podman and removed with it).
/// </summary>
public sealed class PodmanRootTests : IDisposable
{
    private readonly CniHost _h = new();
    private readonly string _dir;

    public PodmanRootTests()
    {
        _dir = Path.Combine(_h.Dirs.Root, "podman");
        foreach (var d in new[] { "net", "rootfs/bin", "root", "runroot", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, d));
        }

        File.Copy("/bin/busybox", Path.Combine(_dir, "rootfs/bin/busybox"));
        File.WriteAllText(Path.Combine(_dir, "containers.conf"), $"""
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["{Path.GetDirectoryName(CniHost.PluginPath)}", "/usr/lib/cni"]
            network_config_dir = "{_dir}/net"
            [engine]
            events_logger = "none"
            cgroup_manager = "cgroupfs"
            runtime = "runc"
            """);
        File.WriteAllText(Path.Combine(_dir, "net/weft.conflist"), $$$"""
            {"cniVersion":"1.0.0","name":"weft","plugins":[
              {"type":"weft-cni","subnet":"{{{_h.Subnet}}}","mtu":1400,"stateDir":"{{{_h.Dirs.StateDir}}}","dataDir":"{{{_h.Dirs.DataDir}}}","capabilities":{"portMappings":true}},
              {"type":"portmap","capabilities":{"portMappings":true},"snat":true},
              {"type":"bandwidth","capabilities":{"bandwidth":true}}]}
            """);
    }

    public void Dispose()
    {
        try
        {
            Podman("rm", "-f", "-t", "0", "--all");
        }
        catch (CmdException)
        {
        }

        _h.Dispose();
    }

    private string Podman(params string[] args)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[$"--net=/run/netns/{_h.Host.Name}", "podman", "--root", $"{_dir}/root", "--runroot", $"{_dir}/runroot", "--tmpdir", $"{_dir}/tmp", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["CONTAINERS_CONF"] = Path.Combine(_dir, "containers.conf");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new CmdException($"podman {string.Join(' ', args)}: timed out", -1);
        }

        return p.ExitCode == 0 ? output : throw new CmdException($"podman {string.Join(' ', args)}: exit {p.ExitCode}: {err.Result}", p.ExitCode);
    }

    [RootFact]
    public void Podman_runs_containers_on_a_weft_network_with_portmap()
    {
        var client = _h.Container("client");
        _h.Host.Netlink.LinkAddVeth("weft-uplink", "eth0", client.Ns);
        _h.Host.Ip("addr add 198.18.0.1/24 dev weft-uplink");
        _h.Host.Ip("link set weft-uplink up");
        client.Ip("addr add 198.18.0.2/24 dev eth0");
        client.Ip("link set eth0 up");

        var rootfs = Path.Combine(_dir, "rootfs");
        Podman("run", "-d", "--name", "a", "--network", "weft", "-p", "8080:80", "--ulimit", "nofile=1000:1000", "--ulimit", "nproc=1000:1000",
            "--rootfs", rootfs, "/bin/busybox", "nc", "-ll", "-p", "80", "-e", "/bin/busybox", "echo", "hello-from-a");

        // weft-cni gave it .2 and recorded it, with the port mapping podman passed.
        var record = Assert.Single(_h.Records.List());
        Assert.Equal("10.255.12.2", record.Ip.ToString());
        Assert.Equal([new PortMapping(8080, 80, "tcp")], record.PortMappings);
        Assert.Contains("w-010255012002", _h.HostLinks());

        // A second container gets its own address and reaches the first.
        var b = Podman("run", "--rm", "--network", "weft", "--ulimit", "nofile=1000:1000", "--ulimit", "nproc=1000:1000",
            "--rootfs", rootfs, "/bin/busybox", "sh", "-c", "ip -4 addr show eth0; for i in 1 2 3 4 5; do nc -w 2 10.255.12.2 80 && break; sleep 0.2; done");
        Assert.Contains("inet 10.255.12.3 peer 169.254.0.1/32", b);
        Assert.Contains("hello-from-a", b);

        // portmap: a client on the "underlay" reaches a through the host port.
        Assert.Contains("hello-from-a", client.Exec("/bin/busybox", "nc", "-w", "2", "198.18.0.1", "8080"));

        Podman("rm", "-f", "-t", "0", "a");
        Assert.Empty(_h.Store.Allocations);
        Assert.Empty(_h.Records.List());
        Assert.Equal(["weft-uplink"], _h.HostLinks());
    }
}
