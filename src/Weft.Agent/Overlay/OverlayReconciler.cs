namespace Weft.Agent.Overlay;

/// <summary>
/// What the overlay reconciler needs from the kernel, for the VTEP device only. List methods return
/// only entries that are Weft's (routes on the VTEP with a gateway, permanent neighbours, FDB entries with
/// a remote destination), so everything listed that is not desired may be removed.
/// </summary>
public interface IOverlayKernel
{
    IReadOnlyCollection<OverlayRoute> ListRoutes();
    IReadOnlyCollection<OverlayNeighbour> ListNeighbours();
    IReadOnlyCollection<FdbEntry> ListFdb();
    void RouteReplace(OverlayRoute r);
    void RouteDelete(OverlayRoute r);
    void NeighReplace(OverlayNeighbour n);
    void NeighDelete(OverlayNeighbour n);
    void FdbReplace(FdbEntry f);
    void FdbDelete(FdbEntry f);
}

/// <summary>Outcome of one reconcile pass.</summary>
public sealed record OverlayReconcileResult(int Added, int Removed, int Unchanged, IReadOnlyList<Exception> Errors)
{
    public bool Ok => Errors.Count == 0;
}

/// <summary>
/// Reads the kernel back, diffs against the desired state, removes stale entries that are ours and adds
/// missing ones; entries that are already right are never touched. A failing operation does not stop the
/// pass: the rest is still applied and the errors are returned so the caller retries.
/// </summary>
public static class OverlayReconciler
{
    public static OverlayReconcileResult Reconcile(IOverlayKernel kernel, OverlayDesired desired)
    {
        var errors = new List<Exception>();
        int added = 0, removed = 0, unchanged = 0;

        void Try(Action a, ref int counter)
        {
            try { a(); counter++; }
            catch (Exception e) { errors.Add(e); }
        }

        var routes = Read(kernel.ListRoutes, errors);
        var neighs = Read(kernel.ListNeighbours, errors);
        var fdb = Read(kernel.ListFdb, errors);
        if (routes is null || neighs is null || fdb is null) return new(0, 0, 0, errors);

        // Remove stale first (routes, then neighbours, then FDB: the reverse of the order they depend on).
        foreach (var r in routes.OrderBy(x => x.Dst.ToString(), StringComparer.Ordinal))
            if (!desired.Routes.Contains(r)) Try(() => kernel.RouteDelete(r), ref removed);
        foreach (var n in neighs.OrderBy(x => x.Mac, StringComparer.Ordinal))
            if (!desired.Neighbours.Contains(n)) Try(() => kernel.NeighDelete(n), ref removed);
        foreach (var f in fdb.OrderBy(x => x.Mac, StringComparer.Ordinal))
            if (!desired.Fdb.Contains(f)) Try(() => kernel.FdbDelete(f), ref removed);

        // Add missing: FDB, neighbours, routes.
        var haveF = fdb.ToHashSet();
        var haveN = neighs.ToHashSet();
        var haveR = routes.ToHashSet();
        foreach (var f in desired.Fdb.OrderBy(x => x.Mac, StringComparer.Ordinal))
        {
            if (haveF.Contains(f)) unchanged++; else Try(() => kernel.FdbReplace(f), ref added);
        }
        foreach (var n in desired.Neighbours.OrderBy(x => x.Mac, StringComparer.Ordinal))
        {
            if (haveN.Contains(n)) unchanged++; else Try(() => kernel.NeighReplace(n), ref added);
        }
        foreach (var r in desired.Routes.OrderBy(x => x.Dst.ToString(), StringComparer.Ordinal))
        {
            if (haveR.Contains(r)) unchanged++; else Try(() => kernel.RouteReplace(r), ref added);
        }
        return new(added, removed, unchanged, errors);
    }

    private static IReadOnlyCollection<T>? Read<T>(Func<IReadOnlyCollection<T>> list, List<Exception> errors)
    {
        try { return list(); }
        catch (Exception e) { errors.Add(e); return null; }
    }
}
