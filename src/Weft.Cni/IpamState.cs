namespace Weft.Cni;

/// <summary>One allocated address: which attachment (container id + interface) holds it.</summary>
public sealed record Allocation(Ipv4 Ip, string ContainerId, string IfName)
{
    public AttachmentKey Key => new(ContainerId, IfName);
}

/// <summary>
/// The allocations of a cell (pure: no I/O). Addresses come from .2–.254 of the cell's /24 (.0 is the VXLAN
/// device's, .1 is never handed out, .255 is broadcast), round-robin: the next free address after the last
/// one handed out, wrapping around, so a just-freed address is reused as late as possible (stale policies
/// and conntrack entries elsewhere in the overlay then never meet a new container). An attachment that
/// already holds an address in the subnet gets the same address again.
/// </summary>
public sealed class IpamState
{
    public const int FirstHost = 2;
    public const int LastHost = 254;

    private readonly List<Allocation> _allocations;

    public IpamState(IEnumerable<Allocation>? allocations = null, Ipv4? last = null)
    {
        _allocations = allocations is null ? [] : new List<Allocation>(allocations);
        Last = last;
    }

    public IReadOnlyList<Allocation> Allocations => _allocations;

    /// <summary>The address handed out most recently (where round-robin continues).</summary>
    public Ipv4? Last { get; private set; }

    /// <summary>True after Allocate/Release changed something (the store then writes the file).</summary>
    public bool Changed { get; private set; }

    public Allocation? Find(string containerId, string ifName) =>
        _allocations.Find(a => a.ContainerId == containerId && a.IfName == ifName);

    public Allocation? FindIp(Ipv4 ip) => _allocations.Find(a => a.Ip == ip);

    /// <summary>Number of addresses in .2–.254 of <paramref name="subnet"/> not allocated.</summary>
    public int Free(Ipv4Subnet subnet)
    {
        var free = LastHost - FirstHost + 1;
        foreach (var a in _allocations)
        {
            if (subnet.Contains(a.Ip))
            {
                free--;
            }
        }

        return free;
    }

    /// <summary>Allocates (or returns the existing) address of an attachment.</summary>
    /// <exception cref="CniException">101 when every address of the subnet is taken.</exception>
    public Ipv4 Allocate(Ipv4Subnet subnet, string containerId, string ifName)
    {
        var existing = Find(containerId, ifName);
        if (existing is not null)
        {
            if (subnet.Contains(existing.Ip))
            {
                return existing.Ip;
            }

            // The cell got a new subnet since: the old address is meaningless now.
            _allocations.Remove(existing);
            Changed = true;
        }

        var used = new bool[256];
        foreach (var a in _allocations)
        {
            if (subnet.Contains(a.Ip))
            {
                used[a.Ip.Value & 0xFF] = true;
            }
        }

        var start = Last is { } last && subnet.Contains(last) ? (int)(last.Value & 0xFF) + 1 : FirstHost;
        const int span = LastHost - FirstHost + 1;
        for (var i = 0; i < span; i++)
        {
            var host = FirstHost + ((start - FirstHost + i) % span + span) % span;
            if (!used[host])
            {
                var ip = new Ipv4(subnet.Network.Value | (uint)host);
                _allocations.Add(new Allocation(ip, containerId, ifName));
                Last = ip;
                Changed = true;
                return ip;
            }
        }

        throw new CniException(CniErrorCode.SubnetFull, $"no free address in {subnet}",
            $"all {span} addresses (.{FirstHost}-.{LastHost}) are allocated; delete containers or run GC");
    }

    /// <summary>Frees the address of an attachment; returns it, or null if it held none.</summary>
    public Allocation? Release(string containerId, string ifName)
    {
        var a = Find(containerId, ifName);
        if (a is not null)
        {
            _allocations.Remove(a);
            Changed = true;
        }

        return a;
    }

    /// <summary>Frees every allocation that <paramref name="keep"/> rejects; returns the freed ones.</summary>
    public List<Allocation> ReleaseWhere(Func<Allocation, bool> release)
    {
        var freed = _allocations.FindAll(a => release(a));
        if (freed.Count > 0)
        {
            _allocations.RemoveAll(a => freed.Contains(a));
            Changed = true;
        }

        return freed;
    }
}
