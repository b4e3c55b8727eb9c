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
    /// <summary>The app's organization (record <c>orgId</c>, CF metadata <c>org_id</c>), reported to the registry as <c>org_id</c>.</summary>
    public string? OrgId { get; init; }
    /// <summary>The app's human-readable name (record <c>appName</c>), reported to the registry as <c>app_name</c>.</summary>
    public string? AppName { get; init; }
    public int? InstanceIndex { get; init; }
    /// <summary>The container's own ports (CF <c>metadata.ports</c>): where its app listens for router traffic.
    /// The router's tag may reach them over the overlay (TCP) without a policy; see <see cref="PolicyInputs.Router"/>.</summary>
    public IReadOnlyList<int> Ports { get; init; } = [];
}

/// <summary>
/// The overlay ingress router (CF's VXLAN policy agent with <c>enable_overlay_ingress_rules</c>): traffic
/// carrying <paramref name="Tag"/> may reach every local container's metadata ports over TCP, and a local
/// container of app <paramref name="AppId"/> sends with that tag.
/// </summary>
/// <param name="AppId">The router's id in the policy server's tag table (CF: <c>INGRESS_ROUTER</c>).</param>
/// <param name="Tag">Its tag (1..65535), from <c>PUT /networking/v1/internal/tags {"id":AppId,"type":"router"}</c>.</param>
public sealed record IngressRouter(string AppId, int Tag);

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
    IReadOnlyList<IPAddress> CellUnderlayIps)
{
    /// <summary>The overlay ingress router, or null when overlay ingress is off or its tag is not known yet.</summary>
    public IngressRouter? Router { get; init; }
}
