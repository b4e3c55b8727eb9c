namespace Weft.Linux;

/// <summary>
/// rtnetlink operations on one network namespace, named like iproute2 (each documented with its
/// <c>ip …</c> equivalent). The socket is opened inside the namespace once, in <see cref="Open"/>;
/// afterwards every method may be called from any thread (requests are serialized per handle).
/// Failures throw <see cref="NetlinkException"/> carrying the kernel's errno
/// (EEXIST on add of something existing, ENOENT/ENODEV/ESRCH on delete of something missing).
/// </summary>
public sealed partial class Netlink : IDisposable
{
    private Netlink(NetlinkSocket socket, NetNs? ns)
    {
        Socket = socket;
        Namespace = ns;
    }

    /// <summary>
    /// Opens a handle on <paramref name="ns"/>, or on the calling thread's namespace when null. The
    /// handle does not own <paramref name="ns"/>; keep it open while the handle needs it (TUN creation).
    /// </summary>
    public static Netlink Open(NetNs? ns = null) => new(NetlinkSocket.Open(ns), ns);

    /// <summary>The namespace this handle works in (null: the namespace of the thread that opened it).</summary>
    public NetNs? Namespace { get; }

    /// <summary>The underlying socket, for requests this class does not cover.</summary>
    public NetlinkSocket Socket { get; }

    public void Dispose() => Socket.Dispose();

    internal const ushort CreateExcl = Nl.NLM_F_CREATE | Nl.NLM_F_EXCL;
    internal const ushort CreateReplace = Nl.NLM_F_CREATE | Nl.NLM_F_REPLACE;
    internal const ushort CreateAppend = Nl.NLM_F_CREATE | Nl.NLM_F_APPEND;
}
