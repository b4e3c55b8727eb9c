using System.Runtime.InteropServices;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>A real bin/weft-agent asked to stop with SIGTERM or SIGINT (as the lab's <c>down</c>,
/// systemd and container runtimes do).</summary>
public sealed partial class SignalTests : IDisposable
{
    private readonly WeftCluster _c = new(("ca", "198.18.0.11"));

    public void Dispose() => _c.Dispose();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);

    [RootTheory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void A_signal_stops_the_agent_with_exit_0_and_leaves_enforcement_in_place(int signal)
    {
        _c.StartAgent("ca");
        var p = _c.AgentProcess("ca");
        Assert.Equal(0, Kill(p.Id, signal));

        // A liveness bound, not a timing assertion: without handling, the agent never exits.
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "weft-agent did not exit after the signal:\n" + _c.AgentLogs["ca"]);
        p.WaitForExit(); // flush the redirected output
        Assert.Equal(0, p.ExitCode);
        // Fail static: the table stays (and so does the lease file).
        var (rc, output) = CellFabric.Run("nsenter", $"--net=/run/netns/{_c.Cells["ca"].Ns} nft list table inet weft");
        Assert.True(rc == 0, output);
        Assert.True(File.Exists(Path.Combine(_c.StateDir("ca"), "lease.json")));
    }
}
