using System.Text;
using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

public sealed record ServerStatus(string Url, string Netns, string TokenFile, string? CaFile, string Dir, int? Pid, bool Running);
public sealed record CellStatus(string Name, string Netns, string UnderlayIp, string? Lease, string StateDir, int? AgentPid, bool Running);
public sealed record InstanceStatus(int Index, string Cell, string? Ip, string Netns, string ContainerId, int? Pid, bool Running);
public sealed record AppStatus(string Name, string Id, int Port, IReadOnlyList<InstanceStatus> Instances);

/// <summary>What <c>weft lab status</c> shows: the lab's state file joined with what is alive right now.</summary>
public sealed record LabStatus(string Name, string RunDir, string FabricNetns, ServerStatus? Server, IReadOnlyList<CellStatus> Cells, IReadOnlyList<AppStatus> Apps)
{
    public static LabStatus Of(LabState st) => new(
        st.Name, st.RunDir, st.FabricNetns,
        st.Server is { } s ? new ServerStatus(s.Url, s.Netns, s.TokenFile, s.CaFile, s.Dir, s.Process?.Pid, Host.IsAlive(s.Process)) : null,
        st.Cells.Select(c => new CellStatus(c.Name, c.Netns, c.UnderlayIp, Components.LeaseSubnet(c), c.StateDir, c.Agent?.Pid, Host.IsAlive(c.Agent))).ToList(),
        st.Apps.Select(a => new AppStatus(a.Name, a.Id, a.Port,
            a.Instances.Select(i => new InstanceStatus(i.Index, i.Cell, i.Ip, i.Netns, i.ContainerId, i.Serve?.Pid, Host.IsAlive(i.Serve))).ToList())).ToList());

    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append($"lab {Name}   run dir {RunDir}   fabric {FabricNetns} (bridge {LabPlan.Bridge}, {LabPlan.UnderlayCidr})\n");
        if (Server is { } s)
        {
            sb.Append($"server  {s.Url} in {s.Netns}  pid {s.Pid?.ToString() ?? "-"} {(s.Running ? "running" : "NOT RUNNING")}\n");
            sb.Append($"        admin token {s.TokenFile}{(s.CaFile is null ? "" : "   ca " + s.CaFile)}\n");
        }
        sb.Append('\n');
        var cells = new Table("cell", "namespace", "underlay ip", "lease", "agent");
        foreach (var c in Cells) cells.Add(c.Name, c.Netns, c.UnderlayIp, c.Lease ?? "-", c.Running ? $"pid {c.AgentPid}" : "NOT RUNNING");
        sb.Append(cells.ToString());
        sb.Append('\n');
        if (Apps.Count == 0)
        {
            sb.Append("no apps (weft lab push APP)\n");
            return sb.ToString();
        }
        var apps = new Table("instance", "cell", "ip", "namespace", "app id", "process");
        foreach (var a in Apps)
            foreach (var i in a.Instances)
                apps.Add($"{a.Name}/{i.Index}", i.Cell, i.Ip ?? "-", i.Netns, a.Id, i.Running ? $"pid {i.Pid} :{a.Port}" : "NOT RUNNING");
        sb.Append(apps.ToString());
        return sb.ToString();
    }
}
