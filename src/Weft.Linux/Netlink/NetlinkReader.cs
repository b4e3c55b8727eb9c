using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using System.Text;

namespace Weft.Linux;

/// <summary>Malformed netlink data (a length that runs past the buffer, a short header).</summary>
public sealed class NetlinkFormatException(string message) : Exception(message);

/// <summary>One netlink message: its header fields and the payload after struct nlmsghdr.</summary>
public readonly ref struct NetlinkMessage
{
    public NetlinkMessage(ushort type, ushort flags, uint seq, uint pid, ReadOnlySpan<byte> payload)
    {
        Type = type;
        Flags = flags;
        Seq = seq;
        Pid = pid;
        Payload = payload;
    }

    public ushort Type { get; }
    public ushort Flags { get; }
    public uint Seq { get; }
    public uint Pid { get; }
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The fixed family header at the start of the payload (ifinfomsg, rtmsg, …).</summary>
    public T Header<T>() where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (Payload.Length < size) throw new NetlinkFormatException($"message type {Type}: payload {Payload.Length} bytes, header needs {size}");
        return MemoryMarshal.Read<T>(Payload);
    }

    /// <summary>The attributes after a fixed header of type <typeparamref name="T"/>.</summary>
    public NetlinkAttributes Attributes<T>() where T : unmanaged
    {
        int size = Nl.Align(System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return new NetlinkAttributes(Payload.Length <= size ? ReadOnlySpan<byte>.Empty : Payload[size..]);
    }
}

/// <summary>Enumerates the netlink messages in a received buffer (several per datagram in dumps).</summary>
public ref struct NetlinkMessageReader
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkMessageReader(ReadOnlySpan<byte> buffer)
    {
        _rest = buffer;
        Current = default;
    }

    public NetlinkMessage Current { get; private set; }

    public readonly NetlinkMessageReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < Nl.NLMSG_HDRLEN)
        {
            if (_rest.Length != 0 && _rest.IndexOfAnyExcept((byte)0) >= 0)
                throw new NetlinkFormatException($"{_rest.Length} trailing bytes, shorter than a netlink header");
            return false;
        }
        var h = MemoryMarshal.Read<NlMsgHdr>(_rest);
        if (h.Len < Nl.NLMSG_HDRLEN || h.Len > _rest.Length)
            throw new NetlinkFormatException($"netlink message length {h.Len} invalid ({_rest.Length} bytes left)");
        Current = new NetlinkMessage(h.Type, h.Flags, h.Seq, h.Pid, _rest[Nl.NLMSG_HDRLEN..(int)h.Len]);
        int next = Math.Min(Nl.Align((int)h.Len), _rest.Length);
        _rest = _rest[next..];
        return true;
    }
}

/// <summary>One attribute: its type (flags stripped), whether it is nested, and its value.</summary>
public readonly ref struct NetlinkAttribute
{
    public NetlinkAttribute(ushort rawType, ReadOnlySpan<byte> value)
    {
        RawType = rawType;
        Value = value;
    }

    /// <summary>nla_type including NLA_F_NESTED / NLA_F_NET_BYTEORDER.</summary>
    public ushort RawType { get; }

    /// <summary>nla_type & NLA_TYPE_MASK.</summary>
    public ushort Type => (ushort)(RawType & Nl.NLA_TYPE_MASK);

    public bool IsNested => (RawType & Nl.NLA_F_NESTED) != 0;

    public ReadOnlySpan<byte> Value { get; }

    public byte U8() => Value.Length >= 1 ? Value[0] : throw Short(1);
    public ushort U16() => Value.Length >= 2 ? BinaryPrimitives.ReadUInt16LittleEndian(Value) : throw Short(2);
    public ushort U16BigEndian() => Value.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Value) : throw Short(2);
    public uint U32() => Value.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Value) : throw Short(4);
    public int I32() => unchecked((int)U32());

    /// <summary>A string, without its NUL terminator.</summary>
    public string String()
    {
        var v = Value;
        int nul = v.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? v[..nul] : v);
    }

    public IPAddress Ip() => Value.Length is 4 or 16 ? new IPAddress(Value) : throw new NetlinkFormatException($"attribute {Type}: {Value.Length} bytes is not an IP address");

    public PhysicalAddress Mac() => new(Value.ToArray());

    /// <summary>The attributes nested inside this one.</summary>
    public NetlinkAttributes Nested() => new(Value);

    private NetlinkFormatException Short(int need) => new($"attribute {Type}: {Value.Length} bytes, need {need}");
}

/// <summary>Enumerates attributes (<c>foreach (var a in attrs)</c>); stops at a truncated tail.</summary>
public ref struct NetlinkAttributes
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkAttributes(ReadOnlySpan<byte> data)
    {
        _rest = data;
        Current = default;
    }

    public NetlinkAttribute Current { get; private set; }

    public readonly NetlinkAttributes GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < Nl.NLA_HDRLEN) return false;
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(_rest[2..]);
        if (len < Nl.NLA_HDRLEN || len > _rest.Length)
            throw new NetlinkFormatException($"attribute length {len} invalid ({_rest.Length} bytes left)");
        Current = new NetlinkAttribute(type, _rest[Nl.NLA_HDRLEN..len]);
        _rest = _rest[Math.Min(Nl.Align(len), _rest.Length)..];
        return true;
    }

    /// <summary>Finds the first attribute of the given type.</summary>
    public readonly bool TryFind(ushort type, out NetlinkAttribute attribute)
    {
        foreach (var a in this)
        {
            if (a.Type == type)
            {
                attribute = a;
                return true;
            }
        }
        attribute = default;
        return false;
    }
}
