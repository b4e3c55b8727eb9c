namespace Weft.Cni;

/// <summary>What ADD builds for one attachment (all derived from the container's IP).</summary>
public sealed record AttachmentSpec(string Netns, string IfName, Ipv4 Ip, int Mtu)
{
    public string HostVeth => Naming.HostVeth(Ip);
}

/// <summary>
/// The kernel side of an attachment: the veth pair, addresses, routes, neighbours and sysctls.
/// <see cref="LinuxAttachmentDriver"/> is the real one; unit tests use a fake.
/// </summary>
public interface IAttachmentDriver
{
    /// <summary>Throws <see cref="CniException"/> 3 when <paramref name="netns"/> is not a network namespace.</summary>
    void EnsureNetns(string netns);

    /// <summary>
    /// Builds the attachment. Calls <paramref name="step"/> with a step name before each kernel change (the
    /// fault-injection point). On failure it removes what it created (never a pre-existing link) and rethrows.
    /// <paramref name="replace"/>: the attachment was made before (same container and interface): its host veth is
    /// removed first.
    /// </summary>
    void Attach(AttachmentSpec spec, bool replace, Action<string> step);

    /// <summary>Removes the attachment; succeeds when the host veth, the namespace or the interface are already gone.</summary>
    void Detach(string hostVeth, string? netns, string ifName);

    /// <summary>Deletes weft's host veths of addresses that are not allocated (GC calls it under the IPAM lock); returns how many.</summary>
    int Reap(Func<Ipv4, bool> allocated);

    /// <summary>Verifies the attachment; throws <see cref="CniException"/> 104 naming the first difference.</summary>
    void Check(AttachmentSpec spec);
}
