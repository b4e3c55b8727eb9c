namespace Weft.Linux.Nft;

/// <summary>
/// An nf_tables netlink socket (NETLINK_NETFILTER) in one network namespace, for element batches
/// encoded by <see cref="NftElementBatch"/>: the fast path for large element lists, which
/// libnftables spends most of its time parsing and evaluating. Like a <see cref="NftContext"/> the
/// socket stays in the namespace it was opened in and may then be used from any thread.
/// </summary>
public sealed class NftNetlink : IDisposable
{
    /// <summary>NETLINK_NETFILTER.</summary>
    public const int Protocol = 12;

    private readonly NetlinkSocket _socket;
    private readonly Lock _lock = new();
    private uint _seq = (uint)Environment.TickCount;

    private NftNetlink(NetlinkSocket socket) => _socket = socket;

    /// <summary>Opens the socket in <paramref name="ns"/>, or in the calling thread's namespace when null.</summary>
    public static NftNetlink Open(NetNs? ns = null) => new(NetlinkSocket.Open(ns, Protocol));

    /// <summary>
    /// Sends the batch as one nf_tables transaction and waits for the kernel's answer to every
    /// message. Throws <see cref="NetlinkException"/> with the kernel's errno (ENOENT: a missing table,
    /// set or deleted element; EINVAL: a key that does not fit the set; EEXIST…); then nothing was applied.
    /// </summary>
    public void Commit(NftElementBatch batch)
    {
        if (batch.IsEmpty) return;
        lock (_lock)
        {
            uint first = _seq;
            var bytes = batch.Encode(first, out int acks);
            _seq = first + (uint)acks + 2;
            _socket.RequestBatch(bytes, first + 1, acks, "nft element batch");
        }
    }

    public void Dispose() => _socket.Dispose();
}
