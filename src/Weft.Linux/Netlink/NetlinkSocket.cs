using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Weft.Linux.Native;

namespace Weft.Linux;

/// <summary>Handles one data message of a reply (not ACKs, errors or DONE).</summary>
public delegate void NetlinkMessageHandler(in NetlinkMessage message);

/// <summary>Parses one data message into a value; returns false to skip it.</summary>
public delegate bool NetlinkParser<T>(in NetlinkMessage message, [MaybeNullWhen(false)] out T value);

/// <summary>
/// An AF_NETLINK socket through P/Invoke (.NET's Socket refuses AF_NETLINK). The socket belongs to
/// the network namespace of the thread that created it, forever; after that it may be used from any
/// thread. Requests are serialized by a lock, so one socket may be shared between threads.
/// </summary>
public sealed unsafe class NetlinkSocket : IDisposable
{
    private const int RxSize = 64 * 1024;
    private const int MaxDumpAttempts = 10;

    private readonly INetlinkTransport _transport;
    private readonly Lock _lock = new();
    private bool _disposed;
    private readonly byte[] _rx = GC.AllocateUninitializedArray<byte>(RxSize, pinned: true);
    private byte[] _tx = new byte[4096];
    private uint _seq;

    internal NetlinkSocket(INetlinkTransport transport)
    {
        _transport = transport;
        PortId = transport.PortId;
        _seq = (uint)Environment.TickCount;
    }

    /// <summary>The port id the kernel assigned to this socket (nl_pid).</summary>
    public uint PortId { get; }

    /// <summary>Opens a netlink socket in the calling thread's network namespace.</summary>
    public static NetlinkSocket Open(int protocol = Nl.NETLINK_ROUTE)
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, protocol);
        if (fd < 0) throw KernelException.FromLastError("socket(AF_NETLINK)");
        var handle = new FdHandle(fd);
        try
        {
            int one = 1;
            // Extended ACK: the kernel says why it refused ("Invalid prefix for given prefix length").
            Libc.setsockopt(fd, Libc.SOL_NETLINK, Nl.NETLINK_EXT_ACK, &one, sizeof(int));
            // Errors carry only the request header, not the whole request.
            Libc.setsockopt(fd, Libc.SOL_NETLINK, Nl.NETLINK_CAP_ACK, &one, sizeof(int));
            int rcv = 1 << 20;
            Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &rcv, sizeof(int));

            var sa = new Libc.SockaddrNl { nl_family = Libc.AF_NETLINK };
            if (Libc.bind(fd, &sa, (uint)sizeof(Libc.SockaddrNl)) != 0) throw KernelException.FromLastError("bind(AF_NETLINK)");
            uint len = (uint)sizeof(Libc.SockaddrNl);
            if (Libc.getsockname(fd, &sa, &len) != 0) throw KernelException.FromLastError("getsockname(AF_NETLINK)");
            return new NetlinkSocket(new FdTransport(handle, sa.nl_pid));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Opens a netlink socket inside <paramref name="ns"/> (or the caller's namespace when null).</summary>
    public static NetlinkSocket Open(NetNs? ns, int protocol = Nl.NETLINK_ROUTE) =>
        ns is null ? Open(protocol) : ns.Run(() => Open(protocol));

    /// <summary>Sends a request with NLM_F_ACK and waits for the kernel's answer; throws <see cref="NetlinkException"/> on error.</summary>
    public void Request(ReadOnlySpan<byte> message, string operation) =>
        Transact(message, dump: false, handler: null, operation);

    /// <summary>Sends a request with NLM_F_ACK, collecting the data messages of the reply (e.g. RTM_GETLINK by name).</summary>
    public List<T> Request<T>(ReadOnlySpan<byte> message, NetlinkParser<T> parser, string operation)
    {
        var list = new List<T>();
        Transact(message, dump: false, (in NetlinkMessage m) => { if (parser(m, out var v)) list.Add(v); }, operation);
        return list;
    }

    /// <summary>
    /// Sends a dump request (NLM_F_DUMP) and collects every message of the multi-part reply up to
    /// NLMSG_DONE. When the kernel flags the dump as interrupted (NLM_F_DUMP_INTR: the table changed
    /// while it was being dumped), the whole dump is repeated.
    /// </summary>
    public List<T> Dump<T>(ReadOnlySpan<byte> message, NetlinkParser<T> parser, string operation)
    {
        for (int attempt = 1; ; attempt++)
        {
            var list = new List<T>();
            bool interrupted = Transact(message, dump: true, (in NetlinkMessage m) => { if (parser(m, out var v)) list.Add(v); }, operation);
            if (!interrupted) return list;
            if (attempt == MaxDumpAttempts)
                throw new NetlinkException(Errno.EINTR, operation, $"dump interrupted {attempt} times (NLM_F_DUMP_INTR)");
        }
    }

    /// <summary>How many dumps the kernel reported as interrupted (and were therefore repeated).</summary>
    public int InterruptedDumps { get; private set; }

    private bool Transact(ReadOnlySpan<byte> message, bool dump, NetlinkMessageHandler? handler, string operation)
    {
        if (message.Length < Nl.NLMSG_HDRLEN) throw new ArgumentException("not a netlink message", nameof(message));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            uint seq = ++_seq;
            if (_tx.Length < message.Length) _tx = new byte[Math.Max(message.Length, _tx.Length * 2)];
            message.CopyTo(_tx);
            var span = _tx.AsSpan(0, message.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)message.Length);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[6..]);
            flags |= Nl.NLM_F_REQUEST;
            flags |= dump ? Nl.NLM_F_DUMP : Nl.NLM_F_ACK;
            BinaryPrimitives.WriteUInt16LittleEndian(span[6..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(span[8..], seq);
            BinaryPrimitives.WriteUInt32LittleEndian(span[12..], 0);
            _transport.Send(span, operation);

            bool interrupted = false;
            ExceptionDispatchInfo? handlerError = null;
            while (true)
            {
                int n = _transport.Receive(_rx, operation);
                foreach (var m in new NetlinkMessageReader(_rx.AsSpan(0, n)))
                {
                    if (m.Seq != seq || m.Pid != PortId) continue; // stale reply of an abandoned request
                    switch (m.Type)
                    {
                        case Nl.NLMSG_NOOP:
                            continue;
                        case Nl.NLMSG_ERROR:
                            ThrowIfError(m, operation);
                            handlerError?.Throw();
                            return interrupted; // ACK
                        case Nl.NLMSG_DONE:
                            if (m.Payload.Length >= 4)
                            {
                                int err = BinaryPrimitives.ReadInt32LittleEndian(m.Payload);
                                if (err < 0) throw new NetlinkException(-err, operation, ExtAckMessage(m, 4));
                            }
                            handlerError?.Throw();
                            if ((m.Flags & Nl.NLM_F_DUMP_INTR) != 0) interrupted = true;
                            if (interrupted) InterruptedDumps++;
                            return interrupted;
                        case Nl.NLMSG_OVERRUN:
                            throw new NetlinkException(Errno.ENOBUFS, operation, "NLMSG_OVERRUN");
                        default:
                            if ((m.Flags & Nl.NLM_F_DUMP_INTR) != 0) interrupted = true;
                            if (handlerError is null && handler is not null)
                            {
                                // A failing parser must not leave the rest of a dump in the socket
                                // (the kernel would refuse the next dump with EBUSY): keep reading to
                                // the end, then rethrow.
                                try
                                {
                                    handler(m);
                                }
                                catch (Exception e)
                                {
                                    handlerError = ExceptionDispatchInfo.Capture(e);
                                }
                            }
                            break;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Sends several requests (whole messages, as one <see cref="NetlinkWriter"/> wrote them one after the other) in
    /// one datagram, each with NLM_F_ACK, and waits for every answer: one round trip instead of one per request.
    /// rtnetlink handles the messages of a datagram in order, each on its own (a failed one does not stop the
    /// next); the first failure in message order is thrown, named by <paramref name="operation"/> (called with the
    /// message's position, only then).
    /// </summary>
    public void RequestEach(ReadOnlySpan<byte> messages, Func<int, string> operation)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_tx.Length < messages.Length) _tx = new byte[Math.Max(messages.Length, _tx.Length * 2)];
            messages.CopyTo(_tx);
            var span = _tx.AsSpan(0, messages.Length);
            uint first = _seq + 1;
            int count = 0;
            for (int offset = 0; offset < span.Length;)
            {
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);
                if (len < Nl.NLMSG_HDRLEN || offset + len > span.Length) throw new ArgumentException("not a sequence of netlink messages", nameof(messages));
                var m = span[offset..];
                ushort flags = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(m[6..]) | Nl.NLM_F_REQUEST | Nl.NLM_F_ACK);
                BinaryPrimitives.WriteUInt16LittleEndian(m[6..], flags);
                BinaryPrimitives.WriteUInt32LittleEndian(m[8..], ++_seq);
                BinaryPrimitives.WriteUInt32LittleEndian(m[12..], 0);
                count++;
                offset += Nl.Align(len);
            }

            _transport.Send(span, "rtnetlink request batch");
            int answered = 0;
            int failed = count;
            NetlinkException? error = null;
            while (answered < count)
            {
                int n = _transport.Receive(_rx, "rtnetlink request batch");
                foreach (var m in new NetlinkMessageReader(_rx.AsSpan(0, n)))
                {
                    if (m.Pid != PortId || m.Type != Nl.NLMSG_ERROR || m.Seq - first >= (uint)count) continue;
                    answered++;
                    int i = (int)(m.Seq - first);
                    if (i < failed && m.Payload.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(m.Payload) != 0)
                    {
                        try { ThrowIfError(m, operation(i)); }
                        catch (NetlinkException e) { error = e; failed = i; }
                    }
                }
            }
            if (error is not null) throw error;
        }
    }

    /// <summary>
    /// Sends several messages in one datagram (an nfnetlink batch: BATCH_BEGIN, requests, BATCH_END)
    /// whose sequence numbers the caller set within <paramref name="firstSeq"/>..<paramref name="lastSeq"/>,
    /// then an NLMSG_NOOP with NLM_F_ACK (sequence <paramref name="lastSeq"/>+1) as a separate
    /// datagram. The kernel processes a batch inside sendmsg and queues all its answers before the
    /// NOOP's ACK, so reading up to that ACK collects every answer however many messages failed or
    /// asked for an ACK. Throws <see cref="NetlinkException"/> with the first error reported (the
    /// kernel then aborted the whole batch).
    /// </summary>
    public void RequestBatch(ReadOnlySpan<byte> messages, uint firstSeq, uint lastSeq, string operation)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _transport.EnsureSendBuffer(messages.Length);
            _transport.Send(messages, operation);
            uint sentinel = lastSeq + 1;
            Span<byte> noop = stackalloc byte[Nl.NLMSG_HDRLEN];
            BinaryPrimitives.WriteUInt32LittleEndian(noop, (uint)Nl.NLMSG_HDRLEN);
            BinaryPrimitives.WriteUInt16LittleEndian(noop[4..], Nl.NLMSG_NOOP);
            BinaryPrimitives.WriteUInt16LittleEndian(noop[6..], Nl.NLM_F_REQUEST | Nl.NLM_F_ACK);
            BinaryPrimitives.WriteUInt32LittleEndian(noop[8..], sentinel);
            BinaryPrimitives.WriteUInt32LittleEndian(noop[12..], 0);
            _transport.Send(noop, operation);
            NetlinkException? first = null;
            while (true)
            {
                int n = _transport.Receive(_rx, operation);
                foreach (var m in new NetlinkMessageReader(_rx.AsSpan(0, n)))
                {
                    if (m.Pid != PortId || m.Type != Nl.NLMSG_ERROR) continue;
                    if (m.Seq == sentinel)
                    {
                        if (first is not null) throw first;
                        return;
                    }
                    if (m.Seq - firstSeq > lastSeq - firstSeq) continue; // not ours
                    try { ThrowIfError(m, operation); }
                    catch (NetlinkException e) { first ??= e; }
                }
            }
        }
    }

    /// <summary>Throws for an NLMSG_ERROR with a negative code; returns for an ACK (code 0).</summary>
    internal static void ThrowIfError(in NetlinkMessage m, string operation)
    {
        if (m.Payload.Length < 4) throw new NetlinkFormatException("short NLMSG_ERROR");
        int err = BinaryPrimitives.ReadInt32LittleEndian(m.Payload);
        if (err == 0) return;
        // After the code comes the request's header (and its payload unless NLM_F_CAPPED), then TLVs.
        int skip = 4 + Nl.NLMSG_HDRLEN;
        if ((m.Flags & Nl.NLM_F_CAPPED) == 0 && m.Payload.Length >= 4 + Nl.NLMSG_HDRLEN)
            skip = 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(m.Payload[4..]);
        string? detail = (m.Flags & Nl.NLM_F_ACK_TLVS) != 0 ? ExtAckMessage(m, Nl.Align(skip)) : null;
        throw new NetlinkException(-err, operation, detail);
    }

    private static string? ExtAckMessage(in NetlinkMessage m, int offset)
    {
        if (offset >= m.Payload.Length) return null;
        try
        {
            if (new NetlinkAttributes(m.Payload[offset..]).TryFind(Nl.NLMSGERR_ATTR_MSG, out var a)) return a.String();
        }
        catch (NetlinkFormatException)
        {
        }
        return null;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _transport.Dispose();
        }
    }
}

/// <summary>Moves datagrams between a <see cref="NetlinkSocket"/> and the kernel (a fake in unit tests).</summary>
internal interface INetlinkTransport : IDisposable
{
    uint PortId { get; }
    void Send(ReadOnlySpan<byte> data, string operation);
    int Receive(byte[] buffer, string operation);

    /// <summary>Makes room for a datagram of <paramref name="bytes"/> (netlink refuses larger ones with EMSGSIZE).</summary>
    void EnsureSendBuffer(int bytes) { }
}

internal sealed unsafe class FdTransport(FdHandle fd, uint portId) : INetlinkTransport
{
    private readonly FdHandle _fd = fd;

    public uint PortId { get; } = portId;

    public void Send(ReadOnlySpan<byte> data, string operation)
    {
        fixed (byte* p = data)
        {
            var sa = new Libc.SockaddrNl { nl_family = Libc.AF_NETLINK };
            var iov = new Libc.IoVec { iov_base = p, iov_len = (nuint)data.Length };
            var msg = new Libc.MsgHdr { msg_name = &sa, msg_namelen = (uint)sizeof(Libc.SockaddrNl), msg_iov = &iov, msg_iovlen = 1 };
            while (true)
            {
                nint r = Libc.sendmsg(_fd.Fd, &msg, 0);
                if (r >= 0) return;
                int e = Libc.Errno;
                if (e != Errno.EINTR) throw new NetlinkException(e, operation, "sendmsg");
            }
        }
    }

    public int Receive(byte[] _rx, string operation)
    {
        fixed (byte* p = _rx)
        {
            var sa = default(Libc.SockaddrNl);
            var iov = new Libc.IoVec { iov_base = p, iov_len = (nuint)_rx.Length };
            var msg = new Libc.MsgHdr { msg_name = &sa, msg_namelen = (uint)sizeof(Libc.SockaddrNl), msg_iov = &iov, msg_iovlen = 1 };
            while (true)
            {
                nint r = Libc.recvmsg(_fd.Fd, &msg, 0);
                if (r < 0)
                {
                    int e = Libc.Errno;
                    if (e == Errno.EINTR) continue;
                    throw new NetlinkException(e, operation, "recvmsg");
                }
                if ((msg.msg_flags & Libc.MSG_TRUNC) != 0) throw new NetlinkException(Errno.ENOBUFS, operation, "netlink reply truncated");
                if (sa.nl_pid != 0) continue; // not from the kernel
                return (int)r;
            }
        }
    }

    private int _sndbuf;

    public void EnsureSendBuffer(int bytes)
    {
        if (bytes + 4096 <= _sndbuf) return;
        int size = Math.Max(bytes + 65536, 1 << 20);
        // SO_SNDBUFFORCE (root, CAP_NET_ADMIN) ignores wmem_max; fall back to SO_SNDBUF.
        if (Libc.setsockopt(_fd.Fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, &size, sizeof(int)) != 0)
            Libc.setsockopt(_fd.Fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &size, sizeof(int));
        _sndbuf = size;
    }

    public void Dispose() => _fd.Dispose();
}
