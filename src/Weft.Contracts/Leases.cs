namespace Weft.Contracts;

// Silk controller lease shapes (silk-release silk/controller/client.go).

/// <summary>A cell's overlay subnet lease: {"underlay_ip","overlay_subnet","overlay_hardware_addr"}.</summary>
public sealed class Lease
{
    public string UnderlayIp { get; set; } = "";
    public string OverlaySubnet { get; set; } = "";
    public string OverlayHardwareAddr { get; set; } = "";
}

/// <summary>Body of PUT /weft/v1/leases/acquire (and Silk's /leases/acquire).</summary>
public sealed class LeaseAcquireRequest
{
    public string UnderlayIp { get; set; } = "";
    /// <summary>true: a single /32 from the network's first block (routers, non-cell VMs).</summary>
    public bool SingleOverlayIp { get; set; }
}

/// <summary>Body of PUT /weft/v1/leases/release.</summary>
public sealed class LeaseReleaseRequest
{
    public string UnderlayIp { get; set; } = "";
}

public sealed class LeasesResponse
{
    public List<Lease> Leases { get; set; } = [];
}
