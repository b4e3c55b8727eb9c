using System.Net;
using Weft.Agent.Overlay;
using Weft.Linux;
using Weft.Linux.Nft;

namespace Weft.Agent.Dataplane;

/// <summary>The kernel side of one cell, as the agent core sees it.</summary>
public interface IAgentDataplane : IDisposable
{
    /// <summary>The base IP and MAC of an existing VTEP (to re-adopt a lease), or null.</summary>
    (IPAddress BaseIp, string Mac)? ReadVtep();

    /// <summary>Creates or repairs the VTEP; returns its MTU.</summary>
    int EnsureVtep(Lease own, IPNetwork overlay, IPAddress underlayIp, string? underlayDevice);

    void DeleteVtep();

    OverlayReconcileResult ReconcileOverlay(OverlayDesired desired);

    NftEnforcer Nft { get; }
}

/// <summary>
/// Netlink and libnftables handles opened in one network namespace (the agent's own by default; a test
/// can pass another). Handles opened in a namespace stay there whatever thread uses them.
/// </summary>
public sealed class LinuxDataplane : IAgentDataplane
{
    private readonly Netlink _nl;
    private readonly LibNftRunner _nft;
    private readonly VtepDriver _vtep;
    private readonly NetlinkOverlayKernel _overlay;

    public LinuxDataplane(NetNs? ns = null, VtepConfig? vtep = null)
    {
        var cfg = vtep ?? new VtepConfig();
        _nl = Netlink.Open(ns);
        _nft = ns is null ? LibNftRunner.OpenHere() : ns.Run(LibNftRunner.OpenHere);
        _vtep = new VtepDriver(_nl, cfg);
        _overlay = new NetlinkOverlayKernel(_nl, cfg.Name);
        Nft = new NftEnforcer(_nft);
    }

    public NftEnforcer Nft { get; }

    public (IPAddress BaseIp, string Mac)? ReadVtep() => _vtep.ReadExisting();

    public int EnsureVtep(Lease own, IPNetwork overlay, IPAddress underlayIp, string? underlayDevice) =>
        _vtep.Ensure(own, overlay, underlayIp, underlayDevice);

    public void DeleteVtep() => _vtep.Delete();

    public OverlayReconcileResult ReconcileOverlay(OverlayDesired desired) => OverlayReconciler.Reconcile(_overlay, desired);

    public void Dispose()
    {
        _nft.Dispose();
        _nl.Dispose();
    }
}
