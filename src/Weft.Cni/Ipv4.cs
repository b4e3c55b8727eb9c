using System.Globalization;

namespace Weft.Cni;

/// <summary>An IPv4 address as a host-order integer (10.255.12.2 = 0x0AFF0C02).</summary>
/// <remarks>
/// Formats itself into the caller's buffer (<see cref="ISpanFormattable"/>): an interpolated string holding one
/// then needs no string of its own. Nested interpolated strings rent and return two buffers of the same size from
/// the shared ArrayPool, and the second return makes the pool calibrate its per-processor cache (~0.15 ms) in a
/// process that lives a few milliseconds.
/// </remarks>
public readonly record struct Ipv4(uint Value) : IComparable<Ipv4>, ISpanFormattable
{
    public static Ipv4 Parse(ReadOnlySpan<char> s) =>
        TryParse(s, out var ip) ? ip : throw new FormatException($"not an IPv4 address: '{s}'");

    public static bool TryParse(ReadOnlySpan<char> s, out Ipv4 ip)
    {
        ip = default;
        uint v = 0;
        var parts = 0;
        while (true)
        {
            var dot = s.IndexOf('.');
            var part = dot < 0 ? s : s[..dot];
            if (part.Length is 0 or > 3 || !uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var octet) || octet > 255)
            {
                return false;
            }

            v = (v << 8) | octet;
            parts++;
            if (dot < 0)
            {
                break;
            }

            s = s[(dot + 1)..];
        }

        if (parts != 4)
        {
            return false;
        }

        ip = new Ipv4(v);
        return true;
    }

    public byte this[int octet] => (byte)(Value >> (24 - (8 * octet)));

    public byte[] ToBytes() => [this[0], this[1], this[2], this[3]];

    public int CompareTo(Ipv4 other) => Value.CompareTo(other.Value);

    public override string ToString()
    {
        Span<char> buffer = stackalloc char[15];
        TryFormat(buffer, out var n, default, null);
        return new string(buffer[..n]);
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                if (charsWritten >= destination.Length)
                {
                    return false;
                }

                destination[charsWritten++] = '.';
            }

            if (!this[i].TryFormat(destination[charsWritten..], out var n, default, CultureInfo.InvariantCulture))
            {
                return false;
            }

            charsWritten += n;
        }

        return true;
    }

    public static Ipv4 operator +(Ipv4 ip, int n) => new((uint)(ip.Value + n));
}

/// <summary>An IPv4 prefix such as 10.255.12.0/24 (the base address is masked).</summary>
/// <remarks>Formats itself into the caller's buffer, as <see cref="Ipv4"/> does (and for the same reason).</remarks>
public readonly record struct Ipv4Subnet(Ipv4 Network, int PrefixLength) : ISpanFormattable
{
    public static Ipv4Subnet Parse(ReadOnlySpan<char> s) =>
        TryParse(s, out var n) ? n : throw new FormatException($"not an IPv4 subnet (a.b.c.d/len): '{s}'");

    public static bool TryParse(ReadOnlySpan<char> s, out Ipv4Subnet subnet)
    {
        subnet = default;
        var slash = s.IndexOf('/');
        if (slash < 0 || !Ipv4.TryParse(s[..slash], out var ip)
            || !int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var len) || len > 32)
        {
            return false;
        }

        subnet = new Ipv4Subnet(new Ipv4(ip.Value & Mask(len)), len);
        return true;
    }

    public static uint Mask(int len) => len == 0 ? 0 : uint.MaxValue << (32 - len);

    public uint Size => PrefixLength == 0 ? uint.MaxValue : 1u << (32 - PrefixLength);

    public bool Contains(Ipv4 ip) => (ip.Value & Mask(PrefixLength)) == Network.Value;

    public override string ToString()
    {
        Span<char> buffer = stackalloc char[18];
        TryFormat(buffer, out var n, default, null);
        return new string(buffer[..n]);
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        if (!Network.TryFormat(destination, out var n, default, null) || n >= destination.Length)
        {
            return false;
        }

        destination[n] = '/';
        if (!PrefixLength.TryFormat(destination[(n + 1)..], out var m, default, CultureInfo.InvariantCulture))
        {
            return false;
        }

        charsWritten = n + 1 + m;
        return true;
    }
}
