namespace Weft.Contracts;

/// <summary>One container (app instance) running on a cell, as its agent reports it.</summary>
public sealed class ContainerRecord
{
    public string ContainerId { get; set; } = "";
    public string AppId { get; set; } = "";
    /// <summary>Optional human name of the app (from container metadata); lets the CLI resolve names.</summary>
    public string? AppName { get; set; }
    public string? SpaceId { get; set; }
    public string? OrgId { get; set; }
    public int InstanceIndex { get; set; }
    /// <summary>The container's overlay IPv4 address.</summary>
    public string Ip { get; set; } = "";
    public List<int> Ports { get; set; } = [];
}

/// <summary>Body of PUT /weft/v1/registry/cells/{cellId}: the full set of the cell's containers.</summary>
public sealed class CellRegistrationRequest
{
    public string UnderlayIp { get; set; } = "";
    public List<ContainerRecord> Containers { get; set; } = [];
}

/// <summary>A registered cell with its containers.</summary>
public sealed class CellRegistration
{
    public string CellId { get; set; } = "";
    public string UnderlayIp { get; set; } = "";
    /// <summary>Unix seconds of the last PUT for this cell.</summary>
    public long UpdatedAt { get; set; }
    public List<ContainerRecord> Containers { get; set; } = [];
}

/// <summary>Response of GET /weft/v1/registry.</summary>
public sealed class RegistryResponse
{
    public long Revision { get; set; }
    public List<CellRegistration> Cells { get; set; } = [];
}

/// <summary>Response of PUT/DELETE /weft/v1/registry/cells/{cellId}.</summary>
public sealed class RevisionResponse
{
    public long Revision { get; set; }
}

/// <summary>One overlay IP and the app that owns it, cluster-wide.</summary>
public sealed class IpOwner
{
    public string Ip { get; set; } = "";
    public string AppId { get; set; } = "";
    /// <summary>The app's tag (hex) if it is in any policy; null otherwise.</summary>
    public string? Tag { get; set; }
    public string CellId { get; set; } = "";
    public string ContainerId { get; set; } = "";
}

/// <summary>Response of GET /weft/v1/ips.</summary>
public sealed class IpsResponse
{
    public long Revision { get; set; }
    public List<IpOwner> Ips { get; set; } = [];
}

public sealed class AppInstance
{
    public string ContainerId { get; set; } = "";
    public int InstanceIndex { get; set; }
    public string Ip { get; set; } = "";
    public string CellId { get; set; } = "";
    public List<int> Ports { get; set; } = [];
}

/// <summary>An app known to Weft (from the registry and/or policies).</summary>
public sealed class AppInfo
{
    public string Id { get; set; } = "";
    public string? Name { get; set; }
    public string? SpaceId { get; set; }
    public string? Tag { get; set; }
    public List<AppInstance> Instances { get; set; } = [];
}

/// <summary>Response of GET /weft/v1/apps.</summary>
public sealed class AppsResponse
{
    public List<AppInfo> Apps { get; set; } = [];
}
