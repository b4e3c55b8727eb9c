namespace Weft.Cni;

/// <summary>The attachment driver over Weft.Linux (placeholder until the kernel layer lands).</summary>
public sealed class LinuxAttachmentDriver : IAttachmentDriver
{
    public void EnsureNetns(string netns)
    {
        if (!File.Exists(netns))
        {
            throw new CniException(CniErrorCode.UnknownContainer, $"network namespace {netns} does not exist");
        }
    }

    public void Attach(AttachmentSpec spec, bool replace, Action<string> step) =>
        throw new CniException(CniErrorCode.Internal, "kernel layer not available yet");

    public void Detach(string hostVeth, string? netns, string ifName)
    {
    }

    public void Check(AttachmentSpec spec) =>
        throw new CniException(CniErrorCode.Internal, "kernel layer not available yet");
}
