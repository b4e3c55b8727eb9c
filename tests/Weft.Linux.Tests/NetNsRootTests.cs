using System.Net.Sockets;
using Weft.TestSupport;

namespace Weft.Linux.Tests;

/// <summary>Namespaces created, entered and deleted through Weft.Linux, checked with iproute2.</summary>
public class NetNsRootTests
{
    [RootFact]
    public void Created_namespace_is_seen_by_iproute2_and_gone_after_delete()
    {
        string name = $"wefttest-{Environment.ProcessId}-nsapi";
        NetNs.TryDelete(name);
        try
        {
            using (var ns = NetNs.Create(name))
            {
                Assert.True(NetNs.Exists(name));
                Assert.Contains(name, Cmd.Run("ip", "netns", "list"));
                // A namespace of its own: only a loopback, which iproute2 sees too.
                using var nl = Netlink.Open(ns);
                Assert.Equal(["lo"], nl.LinkList().Select(l => l.Name));
                Assert.Contains("\"ifname\":\"lo\"", Cmd.Run("ip", "-j", "-n", name, "link", "show"));

                var e = Assert.Throws<KernelException>(() => NetNs.Create(name));
                Assert.Equal(Errno.EEXIST, e.Errno);
            }
            NetNs.Delete(name);
            Assert.False(NetNs.Exists(name));
            Assert.DoesNotContain(name, Cmd.Run("ip", "netns", "list"));
            Assert.Equal(Errno.ENOENT, Assert.Throws<KernelException>(() => NetNs.Delete(name)).Errno);
            Assert.False(NetNs.TryDelete(name));
            Assert.Equal(Errno.ENOENT, Assert.Throws<KernelException>(() => NetNs.OpenByName(name)).Errno);
        }
        finally
        {
            NetNs.TryDelete(name);
        }
    }

    [RootFact]
    public void Run_executes_inside_the_namespace_on_another_thread_and_rethrows()
    {
        using var a = TestNetns.Create("run");
        int caller = Environment.CurrentManagedThreadId;
        // Inside Run, a netlink socket opened on the current thread sees the namespace's links only.
        var (thread, names) = a.Ns.Run(() =>
        {
            using var nl = Netlink.Open();
            return (Environment.CurrentManagedThreadId, nl.LinkList().Select(l => l.Name).ToList());
        });
        Assert.NotEqual(caller, thread);
        Assert.Equal(["lo"], names);
        Assert.Equal("original", Assert.Throws<InvalidOperationException>(() => a.Ns.Run(() => throw new InvalidOperationException("original"))).Message);

        // The caller's thread never moved: its namespace is still the one of the process.
        Assert.Equal(File.ResolveLinkTarget("/proc/self/ns/net", false)!.Name, File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name);
    }

    [RootFact]
    public void Enter_moves_the_calling_thread_in_and_back_out()
    {
        using var a = TestNetns.Create("enter");
        string before = File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name;
        Netlink nl;
        string inside;
        using (a.Ns.Enter())
        {
            inside = File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name;
            nl = Netlink.Open(); // created here, it stays in the namespace
        }

        using (nl)
        {
            Assert.NotEqual(before, inside);
            Assert.Equal(before, File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name);
            nl.LinkAddVeth("wefttest-e0", "wefttest-e1");
            Assert.Contains("wefttest-e0", Cmd.Run("ip", "-n", a.Name, "link", "show"));
        }

        // A namespace that cannot be entered: nothing changes for the thread.
        var closed = NetNs.OpenByName(a.Name);
        closed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => closed.Enter());
        Assert.Equal(before, File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name);
    }

    [RootFact]
    public void Socket_opened_inside_stays_in_the_namespace_when_used_from_the_test_thread()
    {
        using var a = TestNetns.Create("sock");
        using var other = TestNetns.Create("other");
        a.Netlink.AddrAdd(new Address(a.Netlink.LinkByName("lo").Index, IpPrefix.Parse("198.18.7.1/32")));
        // Binding to an address that exists only in "a" works for a socket created in "a"…
        using var s = a.Ns.OpenSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.18.7.1"), 0));
        // …and fails for one created in another namespace.
        using var t = other.Ns.OpenSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var e = Assert.Throws<SocketException>(() => t.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("198.18.7.1"), 0)));
        Assert.Equal(SocketError.AddressNotAvailable, e.SocketErrorCode);
    }

    [RootFact]
    public void Sweeper_removes_namespaces_of_dead_test_processes_only()
    {
        // First a namespace of this process: TestNetns.Create runs the process's one-time sweep (and waits for it,
        // whichever test thread started it), which would otherwise take "dead" away before the call below counts it.
        using var mine = TestNetns.Create("alive");
        // pid 2^22+1 is above the default pid_max, so it can never be alive.
        string dead = $"wefttest-4194305-abcdef-x";
        NetNs.TryDelete(dead);
        NetNs.Create(dead).Dispose();
        Assert.True(TestNetns.SweepLeftovers() >= 1);
        Assert.False(NetNs.Exists(dead));
        Assert.True(NetNs.Exists(mine.Name));
    }

    [RootFact]
    public void Namespace_of_a_process_opens_by_pid_and_by_path()
    {
        using var a = TestNetns.Create("pid");
        a.Netlink.LinkAddVeth("wt-pid0", "wt-pid1");
        var psi = new System.Diagnostics.ProcessStartInfo("ip", ["netns", "exec", a.Name, "sleep", "60"]);
        using var p = System.Diagnostics.Process.Start(psi)!;
        try
        {
            // `ip netns exec` setns()es then execs sleep: wait until the process is in the namespace.
            string want = a.Ns.Run(() => File.ResolveLinkTarget("/proc/thread-self/ns/net", false)!.Name);
            Assert.True(SpinWait.SpinUntil(() => File.ResolveLinkTarget($"/proc/{p.Id}/ns/net", false)?.Name == want, TimeSpan.FromSeconds(60)));
            using var byPid = NetNs.OpenByPid(p.Id);
            using var nl = Netlink.Open(byPid);
            Assert.NotNull(nl.TryLinkByName("wt-pid0"));
            using var byPath = NetNs.OpenByPath($"/run/netns/{a.Name}");
            using var nl2 = Netlink.Open(byPath);
            Assert.NotNull(nl2.TryLinkByName("wt-pid1"));
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }
}
