using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using System.Text;

namespace Weft.Linux;

/// <summary>
/// Builds netlink messages: a header, a fixed family header, then attributes (type-length-value,
/// 4-byte aligned), which may nest (<see cref="BeginNested"/>/<see cref="EndNested"/>, flagged
/// NLA_F_NESTED). Writes into a caller-supplied span (e.g. <c>stackalloc</c>) and moves to a pooled
/// array when that is too small. Dispose returns the pooled array.
/// </summary>
public ref struct NetlinkWriter
{
    private Span<byte> _buf;
    private byte[]? _rented;
    private int _pos;
    private int _msgStart;

    public NetlinkWriter(Span<byte> initial)
    {
        _buf = initial;
        _rented = null;
        _pos = 0;
        _msgStart = -1;
    }

    /// <summary>A writer over a pooled buffer of at least <paramref name="capacity"/> bytes.</summary>
    public static NetlinkWriter Pooled(int capacity = 1024)
    {
        var w = new NetlinkWriter(Span<byte>.Empty);
        w.Grow(capacity);
        return w;
    }

    /// <summary>Bytes written so far (whole messages once <see cref="EndMessage"/> was called).</summary>
    public readonly ReadOnlySpan<byte> Written => _buf[.._pos];

    public readonly int Length => _pos;

    /// <summary>Starts a message: writes a struct nlmsghdr whose length is patched by <see cref="EndMessage"/>.</summary>
    public void BeginMessage(ushort type, ushort flags, uint seq = 0, uint pid = 0)
    {
        _pos = Nl.Align(_pos);
        _msgStart = _pos;
        Write(new NlMsgHdr { Len = 0, Type = type, Flags = flags, Seq = seq, Pid = pid });
    }

    /// <summary>Sets nlmsg_len of the current message to what was written.</summary>
    public void EndMessage()
    {
        if (_msgStart < 0) throw new InvalidOperationException("EndMessage without BeginMessage");
        BinaryPrimitives.WriteUInt32LittleEndian(_buf[_msgStart..], (uint)(_pos - _msgStart));
        _msgStart = -1;
    }

    /// <summary>Writes a fixed header (ifinfomsg, rtmsg, …) padded to 4 bytes.</summary>
    public void Write<T>(in T value) where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        Ensure(Nl.Align(size));
        MemoryMarshal.Write(_buf[_pos..], in value);
        Pad(size);
    }

    /// <summary>Writes raw bytes padded to 4 bytes.</summary>
    public void WriteBytes(scoped ReadOnlySpan<byte> value)
    {
        Ensure(Nl.Align(value.Length));
        value.CopyTo(_buf[_pos..]);
        Pad(value.Length);
    }

    /// <summary>An attribute with the given payload.</summary>
    public void Attr(ushort type, scoped ReadOnlySpan<byte> value)
    {
        int len = Nl.NLA_HDRLEN + value.Length;
        Ensure(Nl.Align(len));
        BinaryPrimitives.WriteUInt16LittleEndian(_buf[_pos..], (ushort)len);
        BinaryPrimitives.WriteUInt16LittleEndian(_buf[(_pos + 2)..], type);
        value.CopyTo(_buf[(_pos + Nl.NLA_HDRLEN)..]);
        Pad(len);
    }

    /// <summary>An attribute without payload (a flag such as IFLA_VXLAN_GBP).</summary>
    public void AttrFlag(ushort type) => Attr(type, ReadOnlySpan<byte>.Empty);

    public void AttrU8(ushort type, byte value) => Attr(type, [value]);

    public void AttrU16(ushort type, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        Attr(type, b);
    }

    /// <summary>A 16-bit value in network byte order (ports such as IFLA_VXLAN_PORT).</summary>
    public void AttrU16BigEndian(ushort type, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        Attr(type, b);
    }

    public void AttrU32(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Attr(type, b);
    }

    public void AttrI32(ushort type, int value) => AttrU32(type, unchecked((uint)value));

    /// <summary>A NUL-terminated string (IFLA_IFNAME, IFLA_INFO_KIND, …).</summary>
    public void AttrString(ushort type, string value)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        Span<byte> b = n < 256 ? stackalloc byte[n + 1] : new byte[n + 1];
        Encoding.UTF8.GetBytes(value, b);
        b[n] = 0;
        Attr(type, b);
    }

    /// <summary>An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order.</summary>
    public void AttrIp(ushort type, IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out int n)) throw new ArgumentException("bad address", nameof(address));
        Attr(type, b[..n]);
    }

    public void AttrMac(ushort type, PhysicalAddress mac) => Attr(type, mac.GetAddressBytes());

    /// <summary>Opens a nested attribute (NLA_F_NESTED set); returns the offset to pass to <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        Ensure(Nl.NLA_HDRLEN);
        int start = _pos;
        BinaryPrimitives.WriteUInt16LittleEndian(_buf[_pos..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(_buf[(_pos + 2)..], (ushort)(type | Nl.NLA_F_NESTED));
        _pos += Nl.NLA_HDRLEN;
        return start;
    }

    /// <summary>Closes a nested attribute: patches its length to cover everything written since.</summary>
    public void EndNested(int start)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buf[start..], (ushort)(_pos - start));
    }

    public void Dispose()
    {
        if (_rented is not null)
        {
            ArrayPool<byte>.Shared.Return(_rented);
            _rented = null;
        }
        _buf = default;
    }

    private void Pad(int len)
    {
        int aligned = Nl.Align(len);
        _buf.Slice(_pos + len, aligned - len).Clear();
        _pos += aligned;
    }

    private void Ensure(int more)
    {
        if (_pos + more > _buf.Length) Grow(_pos + more);
    }

    private void Grow(int needed)
    {
        int size = Math.Max(needed, Math.Max(256, _buf.Length * 2));
        var next = ArrayPool<byte>.Shared.Rent(size);
        _buf[.._pos].CopyTo(next);
        if (_rented is not null) ArrayPool<byte>.Shared.Return(_rented);
        _rented = next;
        _buf = next;
    }
}
