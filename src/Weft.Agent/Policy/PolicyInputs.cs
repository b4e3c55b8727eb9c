using System.Net;

namespace Weft.Agent.Policy;

/// <summary>One c2c policy as the internal API returns it: source app (with tag) may reach
/// destination app (with tag) on a protocol and port range.</summary>
public sealed record PolicyRule(string SourceApp, int SourceTag, string DestinationApp, int DestinationTag,
    string Protocol, int StartPort, int EndPort);

/// <summary>A port mapping of a local container: cell underlay IP : HostPort → container IP : ContainerPort.</summary>
public sealed record PortMapping(int HostPort, int ContainerPort, string Protocol);

/// <summary>One container attachment on this cell, as recorded by weft-cni (docs/cell-state.md).</summary>
public sealed record LocalContainer(string ContainerId, string IfName, IPAddress Ip, string HostVeth, string AppId,
    IReadOnlyList<PortMapping> PortMappings)
{
    public string? SpaceId { get; init; }
    /// <summary>The app's human-readable name (record <c>appName</c>), reported to the registry as <c>app_name</c>.</summary>
    public string? AppName { get; init; }
    public int? InstanceIndex { get; init; }
    public IReadOnlyList<int> Ports { get; init; } = [];
}

/// <summary>The fixed part of the table: things that change only when the cell itself changes.</summary>
/// <param name="CellIp">The cell's underlay IP (port mappings DNAT from it).</param>
/// <param name="Overlay">The overlay network, e.g. 10.255.0.0/16 (traffic leaving it is masqueraded).</param>
/// <param name="VethPrefix">Host veth name prefix of containers (weft-cni: <c>w-</c>).</param>
/// <param name="VxlanPort">UDP port of the VXLAN overlay.</param>
public sealed record CellSkeleton(IPAddress CellIp, IPNetwork Overlay, string VethPrefix = "w-", int VxlanPort = 4789);

/// <summary>Everything the policy compiler needs; plain data, no I/O.</summary>
public sealed record PolicyInputs(
    CellSkeleton Cell,
    IReadOnlyList<PolicyRule> Policies,
    IReadOnlyList<LocalContainer> Containers,
    IReadOnlyList<IPAddress> CellUnderlayIps);
