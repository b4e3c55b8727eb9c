using Weft.Agent.Cell;

namespace Weft.Agent.Tests.Cell;

public sealed class CellStateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-cellstate-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void The_router_tag_survives_a_restart_in_the_saved_snapshot()
    {
        var state = new CellState(_dir);
        state.WriteSnapshot(new Snapshot(7, [new SnapshotPolicy("a", 1, "b", 2, "tcp", 80, 80)], [], DateTimeOffset.UnixEpoch) { RouterTag = 0x2a });
        var back = new CellState(_dir).ReadSnapshot()!;
        Assert.Equal(0x2a, back.RouterTag);
        Assert.Equal(7, back.Revision);
    }

    [Fact]
    public void A_snapshot_saved_before_router_tags_existed_reads_as_no_router_tag()
    {
        var state = new CellState(_dir);
        File.WriteAllText(state.SnapshotPath, """{"revision":3,"policies":[],"leases":[],"savedAt":"2026-11-21T22:00:00Z"}""");
        Assert.Equal(0, state.ReadSnapshot()!.RouterTag);
    }

    [Theory]
    [InlineData("--router-id", "", "")]
    [InlineData("--router-id", "my-router", "my-router")]
    public void Router_id_flag(string flag, string value, string expected) =>
        Assert.Equal(expected, AgentOptions.Parse([flag, value]).RouterId);

    [Fact]
    public void Router_id_defaults_to_cf_ingress_router_and_refuses_unsafe_names()
    {
        Assert.Equal("INGRESS_ROUTER", AgentOptions.Parse([]).RouterId);
        var e = Assert.Throws<ArgumentException>(() => AgentOptions.Parse(["--router-id", "a b\""]));
        Assert.Contains("--router-id", e.Message);
    }
}
