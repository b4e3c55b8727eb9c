using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Weft.Linux.Nft;

/// <summary>Verdicts (in verdict maps and as rule statements).</summary>
public enum NftVerdictKind
{
    Accept,
    Drop,
    Continue,
    Return,
    Jump,
    Goto,
}

/// <summary>
/// One typed field of a set/map element or a match: an address, prefix or address range, a mark, a
/// protocol, a port or port range, an interface name or a verdict. Built only through the factory
/// methods, which validate, so rendering it into a script cannot inject syntax. Values compare by
/// what they denote: a prefix equals the address range it covers and a range of one value equals
/// that value, as the kernel stores and reports them.
/// </summary>
public readonly partial struct NftValue : IEquatable<NftValue>
{
    private readonly UInt128 _low;
    private readonly UInt128 _high;
    private readonly string? _text;
    private readonly NftVerdictKind _verdict;

    private NftValue(NftDataType type, UInt128 low, UInt128 high, string? text = null, NftVerdictKind verdict = default)
    {
        Type = type;
        _low = low;
        _high = high;
        _text = text;
        _verdict = verdict;
    }

    public NftDataType Type { get; }

    /// <summary>Whether this covers more than one value (a range or a prefix shorter than the address).</summary>
    public bool IsRange => _low != _high;

    /// <summary>Ranges: the low end; single values: the value (addresses as big-endian integers).</summary>
    public UInt128 Low => _low;

    /// <summary>Ranges: the high end; single values: the value.</summary>
    public UInt128 High => _high;

    /// <summary>Interface name, or the target chain of a jump/goto verdict.</summary>
    public string? Text => _text;

    /// <summary>The verdict of a <see cref="NftDataType.Verdict"/> value.</summary>
    public NftVerdictKind Verdict => _verdict;

    // ---- addresses ----

    /// <summary>An IPv4 or IPv6 address (<c>ipv4_addr</c> / <c>ipv6_addr</c>). IPv4-mapped IPv6 addresses become IPv4.</summary>
    public static NftValue Address(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        (NftDataType t, UInt128 v) = ToInt(address);
        return new NftValue(t, v, v);
    }

    /// <summary>An address prefix (<c>10.255.0.0/16</c>); host bits must be zero. Needs an interval set.</summary>
    public static NftValue Prefix(IPAddress network, int length)
    {
        ArgumentNullException.ThrowIfNull(network);
        (NftDataType t, UInt128 v) = ToInt(network);
        int bits = t == NftDataType.Ipv4Addr ? 32 : 128;
        if (length < 0 || length > bits)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"prefix length {length} is outside 0..{bits}");
        }

        UInt128 hostMask = length == bits ? UInt128.Zero : (UInt128.One << (bits - length)) - 1;
        if ((v & hostMask) != 0)
        {
            throw new ArgumentException($"{network}/{length} has host bits set; use {FromInt(t, v & ~hostMask)}/{length}", nameof(network));
        }

        return new NftValue(t, v, v | hostMask);
    }

    /// <summary>A prefix in CIDR notation (<c>"10.255.0.0/16"</c>) or a single address.</summary>
    public static NftValue Prefix(string cidr)
    {
        ArgumentNullException.ThrowIfNull(cidr);
        int slash = cidr.IndexOf('/');
        if (slash < 0)
        {
            return Address(ParseAddress(cidr));
        }

        if (!int.TryParse(cidr.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int len))
        {
            throw new FormatException($"'{cidr}' is not a prefix (ADDRESS/LENGTH)");
        }

        return Prefix(ParseAddress(cidr[..slash]), len);
    }

    /// <summary>An inclusive address range (<c>10.0.0.1-10.0.0.7</c>). Needs an interval set.</summary>
    public static NftValue AddressRange(IPAddress first, IPAddress last)
    {
        (NftDataType t1, UInt128 lo) = ToInt(first);
        (NftDataType t2, UInt128 hi) = ToInt(last);
        if (t1 != t2)
        {
            throw new ArgumentException($"range {first}-{last} mixes IPv4 and IPv6");
        }

        if (lo > hi)
        {
            throw new ArgumentException($"range {first}-{last} is empty (first > last)");
        }

        return new NftValue(t1, lo, hi);
    }

    // ---- numbers ----

    /// <summary>A packet mark (<c>mark</c>).</summary>
    /// <summary>An IPv4 address from its 32-bit value (10.255.12.2 = 0x0aff0c02).</summary>
    public static NftValue Ipv4(uint address) => new(NftDataType.Ipv4Addr, address, address);

    public static NftValue Mark(uint mark) => new(NftDataType.Mark, mark, mark);

    /// <summary>An IP protocol number (<c>inet_proto</c>).</summary>
    public static NftValue Protocol(byte protocol) => new(NftDataType.InetProto, protocol, protocol);

    /// <summary>An IP protocol by name: tcp, udp, icmp, icmpv6, sctp, udplite, gre, esp, ah.</summary>
    public static NftValue Protocol(string name) =>
        ProtocolNumber(name) is byte p ? Protocol(p) : throw new ArgumentException($"unknown protocol '{name}' (use tcp, udp, icmp, icmpv6, sctp, udplite, gre, esp, ah or a number)", nameof(name));

    public static NftValue Tcp => Protocol(6);

    public static NftValue Udp => Protocol(17);

    public static NftValue Icmp => Protocol(1);

    /// <summary>A port (<c>inet_service</c>).</summary>
    public static NftValue Port(ushort port) => new(NftDataType.InetService, port, port);

    /// <summary>An inclusive port range (<c>8000-9000</c>). Needs an interval set unless first == last.</summary>
    public static NftValue PortRange(ushort first, ushort last) =>
        first <= last ? new(NftDataType.InetService, first, last) : throw new ArgumentException($"port range {first}-{last} is empty");

    // ---- names and verdicts ----

    /// <summary>An interface name (<c>ifname</c>): 1–15 characters of letters, digits, '.', '_', '-'.</summary>
    public static NftValue IfName(string name)
    {
        if (name is null || !IfNameRegex().IsMatch(name) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a valid interface name (1-15 of A-Z a-z 0-9 . _ -)", nameof(name));
        }

        return new NftValue(NftDataType.IfName, 0, 0, name);
    }

    public static NftValue Accept => new(NftDataType.Verdict, 0, 0, null, NftVerdictKind.Accept);

    public static NftValue Drop => new(NftDataType.Verdict, 0, 0, null, NftVerdictKind.Drop);

    public static NftValue Continue => new(NftDataType.Verdict, 0, 0, null, NftVerdictKind.Continue);

    public static NftValue Return => new(NftDataType.Verdict, 0, 0, null, NftVerdictKind.Return);

    public static NftValue Jump(string chain) => new(NftDataType.Verdict, 0, 0, NftName.Validate(chain, nameof(chain)), NftVerdictKind.Jump);

    public static NftValue Goto(string chain) => new(NftDataType.Verdict, 0, 0, NftName.Validate(chain, nameof(chain)), NftVerdictKind.Goto);

    // ---- rendering ----

    /// <summary>nft syntax for this value.</summary>
    public override string ToString()
    {
        switch (Type)
        {
            case NftDataType.Ipv4Addr:
            case NftDataType.Ipv6Addr:
                if (!IsRange)
                {
                    return FromInt(Type, _low).ToString();
                }

                int bits = Type == NftDataType.Ipv4Addr ? 32 : 128;
                UInt128 size = _high - _low;
                if (IsPowerOfTwoMinusOne(size) && (_low & size) == 0)
                {
                    int hostBits = size == UInt128.MaxValue ? 128 : BitLength(size);
                    return $"{FromInt(Type, _low)}/{bits - hostBits}";
                }

                return $"{FromInt(Type, _low)}-{FromInt(Type, _high)}";
            case NftDataType.Mark:
                return IsRange ? $"0x{(uint)_low:x}-0x{(uint)_high:x}" : $"0x{(uint)_low:x}";
            case NftDataType.InetProto:
                return IsRange ? $"{(byte)_low}-{(byte)_high}" : ProtocolName((byte)_low) ?? ((byte)_low).ToString(CultureInfo.InvariantCulture);
            case NftDataType.InetService:
                return IsRange ? $"{(ushort)_low}-{(ushort)_high}" : ((ushort)_low).ToString(CultureInfo.InvariantCulture);
            case NftDataType.IfName:
                return $"\"{_text}\"";
            case NftDataType.Verdict:
                return _verdict switch
                {
                    NftVerdictKind.Accept => "accept",
                    NftVerdictKind.Drop => "drop",
                    NftVerdictKind.Continue => "continue",
                    NftVerdictKind.Return => "return",
                    NftVerdictKind.Jump => $"jump {_text}",
                    NftVerdictKind.Goto => $"goto {_text}",
                    _ => throw new InvalidOperationException(),
                };
            default:
                throw new InvalidOperationException($"uninitialised {nameof(NftValue)}");
        }
    }

    /// <summary>
    /// nft syntax with a single value written as the range <c>v-v</c> (same element to the kernel).
    /// See <see cref="NftBatch"/>: nft 1.0.6 cannot delete a concatenated interval element whose
    /// fields are all single values unless one of them is written as a range.
    /// </summary>
    internal string ToRangeString()
    {
        if (IsRange || Type is NftDataType.IfName or NftDataType.Verdict)
        {
            return ToString();
        }

        return Type switch
        {
            NftDataType.Ipv4Addr or NftDataType.Ipv6Addr => $"{FromInt(Type, _low)}-{FromInt(Type, _high)}",
            NftDataType.Mark => $"0x{(uint)_low:x}-0x{(uint)_high:x}",
            _ => $"{(ulong)_low}-{(ulong)_high}",
        };
    }

    /// <summary>Appends the nft syntax (fast paths for the common single values).</summary>
    internal void AppendTo(StringBuilder sb, bool asRange)
    {
        if (asRange)
        {
            sb.Append(ToRangeString());
            return;
        }

        if (IsRange)
        {
            sb.Append(ToString());
            return;
        }

        switch (Type)
        {
            case NftDataType.Ipv4Addr:
                uint a = (uint)_low;
                sb.Append(a >> 24).Append('.').Append((a >> 16) & 0xff).Append('.').Append((a >> 8) & 0xff).Append('.').Append(a & 0xff);
                return;
            case NftDataType.Mark:
                sb.Append("0x").Append(((uint)_low).ToString("x", CultureInfo.InvariantCulture));
                return;
            case NftDataType.InetService:
                sb.Append((ushort)_low);
                return;
            default:
                sb.Append(ToString());
                return;
        }
    }

    public bool Equals(NftValue other) =>
        Type == other.Type && _low == other._low && _high == other._high && _text == other._text && _verdict == other._verdict;

    public override bool Equals(object? obj) => obj is NftValue v && Equals(v);

    public override int GetHashCode() => HashCode.Combine(Type, _low, _high, _text, _verdict);

    public static bool operator ==(NftValue a, NftValue b) => a.Equals(b);

    public static bool operator !=(NftValue a, NftValue b) => !a.Equals(b);

    // ---- parsing (JSON read-back) ----

    internal static NftValue Single(NftDataType type, UInt128 v) => new(type, v, v);

    internal static NftValue Range(NftDataType type, NftValue first, NftValue last) =>
        first._low <= last._high ? new(type, first._low, last._high) : throw new FormatException($"empty range {first}-{last}");

    internal static IPAddress ParseAddress(string s) =>
        IPAddress.TryParse(s, out IPAddress? a) ? a : throw new FormatException($"'{s}' is not an IP address");

    internal static byte? ProtocolNumber(string name) => name switch
    {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" or "ipv6-icmp" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => byte.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out byte b) ? b : null,
    };

    private static string? ProtocolName(byte p) => p switch
    {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        132 => "sctp",
        136 => "udplite",
        _ => null,
    };

    private static (NftDataType, UInt128) ToInt(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6)
        {
            a = a.MapToIPv4();
        }

        Span<byte> b = stackalloc byte[16];
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            a.TryWriteBytes(b, out _);
            return (NftDataType.Ipv4Addr, BinaryPrimitives.ReadUInt32BigEndian(b));
        }

        if (a.ScopeId != 0)
        {
            throw new ArgumentException($"address {a} has a scope id; nft sets hold plain addresses");
        }

        a.TryWriteBytes(b, out _);
        return (NftDataType.Ipv6Addr, BinaryPrimitives.ReadUInt128BigEndian(b));
    }

    private static IPAddress FromInt(NftDataType t, UInt128 v)
    {
        Span<byte> b = stackalloc byte[16];
        if (t == NftDataType.Ipv4Addr)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b, (uint)v);
            return new IPAddress(b[..4]);
        }

        BinaryPrimitives.WriteUInt128BigEndian(b, v);
        return new IPAddress(b);
    }

    private static bool IsPowerOfTwoMinusOne(UInt128 v) => (v & (v + 1)) == 0;

    private static int BitLength(UInt128 v)
    {
        int n = 0;
        while (v != 0)
        {
            v >>= 1;
            n++;
        }

        return n;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,15}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex IfNameRegex();
}
