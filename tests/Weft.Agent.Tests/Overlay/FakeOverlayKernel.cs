using Weft.Agent.Overlay;

namespace Weft.Agent.Tests.Overlay;

/// <summary>An in-memory VTEP with an operation log and fault injection.</summary>
internal sealed class FakeOverlayKernel : IOverlayKernel
{
    public HashSet<OverlayRoute> Routes { get; } = [];
    public HashSet<OverlayNeighbour> Neighbours { get; } = [];
    public HashSet<FdbEntry> Fdb { get; } = [];
    public List<string> Log { get; } = [];

    /// <summary>Operations (e.g. "route-replace 10.255.13.0/24") that throw instead of acting.</summary>
    public HashSet<string> Fail { get; } = [];
    public bool FailList { get; set; }

    public IReadOnlyCollection<OverlayRoute> ListRoutes() => FailList ? throw new IOException("list failed") : Routes.ToList();
    public IReadOnlyCollection<OverlayNeighbour> ListNeighbours() => Neighbours.ToList();
    public IReadOnlyCollection<FdbEntry> ListFdb() => Fdb.ToList();

    public void RouteReplace(OverlayRoute r) { Op($"route-replace {r.Dst}"); Routes.RemoveWhere(x => x.Dst.Equals(r.Dst)); Routes.Add(r); }
    public void RouteDelete(OverlayRoute r) { Op($"route-delete {r.Dst}"); Routes.Remove(r); }
    public void NeighReplace(OverlayNeighbour n) { Op($"neigh-replace {n.Ip}"); Neighbours.RemoveWhere(x => x.Ip.Equals(n.Ip)); Neighbours.Add(n); }
    public void NeighDelete(OverlayNeighbour n) { Op($"neigh-delete {n.Ip}"); Neighbours.Remove(n); }
    public void FdbReplace(FdbEntry f) { Op($"fdb-replace {f.Mac}"); Fdb.RemoveWhere(x => x.Mac == f.Mac); Fdb.Add(f); }
    public void FdbDelete(FdbEntry f) { Op($"fdb-delete {f.Mac}"); Fdb.Remove(f); }

    private void Op(string op)
    {
        if (Fail.Contains(op)) throw new IOException("injected: " + op);
        Log.Add(op);
    }
}
