namespace Weft.Cni.Tests;

/// <summary>A kernel stand-in: remembers host veths; can fail at a named step like the real driver.</summary>
public sealed class FakeDriver : IAttachmentDriver
{
    public HashSet<string> Links { get; } = [];

    public HashSet<string> Namespaces { get; } = [];

    public List<string> Detached { get; } = [];

    public string? FailCheckWith { get; set; }

    public void EnsureNetns(string netns)
    {
        if (!Namespaces.Contains(netns))
        {
            throw new CniException(CniErrorCode.UnknownContainer, $"network namespace {netns} does not exist");
        }
    }

    public void Attach(AttachmentSpec spec, bool replace, Action<string> step)
    {
        if (replace)
        {
            Links.Remove(spec.HostVeth);
        }

        step("veth");
        if (!Links.Add(spec.HostVeth))
        {
            throw new CniException(CniErrorCode.InterfaceExists, $"link {spec.HostVeth} exists");
        }

        try
        {
            step("container");
            step("host");
        }
        catch
        {
            Links.Remove(spec.HostVeth);
            throw;
        }
    }

    public void Detach(string hostVeth, string? netns, string ifName)
    {
        Detached.Add(hostVeth);
        Links.Remove(hostVeth);
    }

    public int Reap(Func<Ipv4, bool> allocated) => 0;

    public void Check(AttachmentSpec spec)
    {
        if (!Links.Contains(spec.HostVeth))
        {
            throw new CniException(CniErrorCode.CheckFailed, $"host veth {spec.HostVeth} is missing");
        }

        if (FailCheckWith is not null)
        {
            throw new CniException(CniErrorCode.CheckFailed, FailCheckWith);
        }
    }
}
