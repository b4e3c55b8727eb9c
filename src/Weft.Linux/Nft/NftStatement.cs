using System.Net;
using System.Text.RegularExpressions;

namespace Weft.Linux.Nft;

/// <summary>
/// What a rule matches on or looks up with: a packet or metadata field (<c>ip saddr</c>,
/// <c>meta mark</c>, <c>th dport</c>, …) or a concatenation of fields (<c>meta mark . ip daddr</c>),
/// with the data type of each field so values can be checked against it.
/// </summary>
public readonly struct NftExpr : IEquatable<NftExpr>
{
    private readonly string _text;

    private NftExpr(string text, IReadOnlyList<NftDataType> types)
    {
        _text = text;
        Types = types;
    }

    /// <summary>The data type of each field (one for a plain field).</summary>
    public IReadOnlyList<NftDataType> Types { get; }

    /// <summary><c>meta mark</c></summary>
    public static NftExpr MetaMark { get; } = new("meta mark", [NftDataType.Mark]);

    /// <summary><c>ct mark</c></summary>
    public static NftExpr CtMark { get; } = new("ct mark", [NftDataType.Mark]);

    /// <summary><c>ip saddr</c></summary>
    public static NftExpr IpSaddr { get; } = new("ip saddr", [NftDataType.Ipv4Addr]);

    /// <summary><c>ip daddr</c></summary>
    public static NftExpr IpDaddr { get; } = new("ip daddr", [NftDataType.Ipv4Addr]);

    /// <summary><c>ip6 saddr</c></summary>
    public static NftExpr Ip6Saddr { get; } = new("ip6 saddr", [NftDataType.Ipv6Addr]);

    /// <summary><c>ip6 daddr</c></summary>
    public static NftExpr Ip6Daddr { get; } = new("ip6 daddr", [NftDataType.Ipv6Addr]);

    /// <summary><c>meta l4proto</c> (the transport protocol, after IPv6 extension headers).</summary>
    public static NftExpr L4Proto { get; } = new("meta l4proto", [NftDataType.InetProto]);

    /// <summary><c>th dport</c> (transport header destination port: TCP, UDP, UDP-Lite, SCTP, DCCP).</summary>
    public static NftExpr ThDport { get; } = new("th dport", [NftDataType.InetService]);

    /// <summary><c>th sport</c></summary>
    public static NftExpr ThSport { get; } = new("th sport", [NftDataType.InetService]);

    /// <summary><c>udp dport</c> (also matches only UDP).</summary>
    public static NftExpr UdpDport { get; } = new("udp dport", [NftDataType.InetService]);

    /// <summary><c>tcp dport</c> (also matches only TCP).</summary>
    public static NftExpr TcpDport { get; } = new("tcp dport", [NftDataType.InetService]);

    /// <summary><c>iifname</c> (by name: works in any namespace and for interfaces that do not exist yet).</summary>
    public static NftExpr IifName { get; } = new("iifname", [NftDataType.IfName]);

    /// <summary><c>oifname</c></summary>
    public static NftExpr OifName { get; } = new("oifname", [NftDataType.IfName]);

    /// <summary>A concatenation <c>a . b . c</c>: matches or looks up all fields at once.</summary>
    public static NftExpr Concat(params NftExpr[] parts)
    {
        if (parts.Length < 2)
        {
            throw new ArgumentException("a concatenation needs at least two fields", nameof(parts));
        }

        return new(string.Join(" . ", parts.Select(p => p.ToString())), parts.SelectMany(p => p.Types).ToArray());
    }

    public override string ToString() => _text ?? throw new InvalidOperationException($"uninitialised {nameof(NftExpr)}");

    public bool Equals(NftExpr other) => _text == other._text;

    public override bool Equals(object? obj) => obj is NftExpr e && Equals(e);

    public override int GetHashCode() => _text?.GetHashCode(StringComparison.Ordinal) ?? 0;
}

/// <summary>Connection tracking states for <see cref="NftStatement.CtState"/>.</summary>
[Flags]
public enum NftCtState
{
    None = 0,
    Invalid = 1,
    Established = 2,
    Related = 4,
    New = 8,
    Untracked = 16,
}

/// <summary>
/// One statement of a rule (a match, a lookup, an action or a verdict) as nft text. Statements are
/// built only by the static helpers here, which check their arguments (names against
/// <see cref="NftName"/>, values through <see cref="NftValue"/>, comments and log prefixes against
/// a strict character set), so a rule can never carry injected syntax.
/// </summary>
public readonly partial struct NftStatement : IEquatable<NftStatement>
{
    private readonly string _text;

    private NftStatement(string text) => _text = text;

    // ---- matches ----

    /// <summary><c>EXPR VALUE</c>, e.g. <c>ip saddr 10.255.0.0/16</c>, <c>meta mark 0x5</c>.</summary>
    public static NftStatement Match(NftExpr expr, params NftValue[] values) => new($"{expr} {Values(expr, values)}");

    /// <summary><c>EXPR != VALUE</c>.</summary>
    public static NftStatement NotMatch(NftExpr expr, params NftValue[] values) => new($"{expr} != {Values(expr, values)}");

    /// <summary><c>EXPR { V1, V2, … }</c> (an anonymous set; single-field expressions).</summary>
    public static NftStatement MatchAny(NftExpr expr, IEnumerable<NftValue> values)
    {
        var list = values.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("an anonymous set needs at least one value", nameof(values));
        }

        return new($"{expr} {{ {string.Join(", ", list.Select(v => Values(expr, [v])))} }}");
    }

    /// <summary><c>iifname "w-*"</c>: the interface name starts with <paramref name="prefix"/> (1-14 characters).</summary>
    public static NftStatement IfNameStartsWith(NftExpr ifnameExpr, string prefix)
    {
        if (ifnameExpr.Types.Count != 1 || ifnameExpr.Types[0] != NftDataType.IfName)
        {
            throw new ArgumentException($"'{ifnameExpr}' is not an interface name", nameof(ifnameExpr));
        }

        string quoted = NftValue.IfName(prefix).ToString();
        if (prefix.Length > 14)
        {
            throw new ArgumentException($"interface name prefix '{prefix}' is longer than 14 characters", nameof(prefix));
        }

        return new($"{ifnameExpr} {quoted[..^1]}*\"");
    }

    /// <summary><c>EXPR @SET</c>: the (possibly concatenated) expression is in the named set.</summary>
    public static NftStatement InSet(NftExpr expr, string set) => new($"{expr} @{NftName.Validate(set, nameof(set))}");

    /// <summary><c>EXPR != @SET</c>.</summary>
    public static NftStatement NotInSet(NftExpr expr, string set) => new($"{expr} != @{NftName.Validate(set, nameof(set))}");

    /// <summary><c>ct state established,related</c>.</summary>
    public static NftStatement CtState(NftCtState states) => new($"ct state {CtStates(states)}");

    /// <summary><c>ct state != …</c>.</summary>
    public static NftStatement NotCtState(NftCtState states) => new($"ct state != {CtStates(states)}");

    /// <summary><c>meta nfproto ipv4</c> / <c>ipv6</c> (in inet tables).</summary>
    public static NftStatement NfProtoIpv4 { get; } = new("meta nfproto ipv4");

    /// <summary><c>meta nfproto ipv6</c></summary>
    public static NftStatement NfProtoIpv6 { get; } = new("meta nfproto ipv6");

    // ---- actions ----

    /// <summary><c>counter</c>: counts packets and bytes (read back as the rule's counter).</summary>
    public static NftStatement Counter { get; } = new("counter");

    /// <summary><c>meta mark set VALUE</c>.</summary>
    public static NftStatement SetMark(uint mark) => new($"meta mark set {NftValue.Mark(mark)}");

    /// <summary><c>meta mark set EXPR map @MAP</c>: the mark is looked up by key (a miss leaves the rule).</summary>
    public static NftStatement SetMarkFromMap(NftExpr key, string map) =>
        new($"meta mark set {key} map @{NftName.Validate(map, nameof(map))}");

    /// <summary><c>ct mark set meta mark</c>: remember the packet mark on the connection.</summary>
    public static NftStatement SaveMarkToConntrack { get; } = new("ct mark set meta mark");

    /// <summary><c>EXPR vmap @MAP</c>: the verdict is looked up by key (a miss continues).</summary>
    public static NftStatement VerdictMap(NftExpr key, string map) => new($"{key} vmap @{NftName.Validate(map, nameof(map))}");

    /// <summary><c>dnat ip to EXPR map @MAP</c>, the map's values being <c>ipv4_addr . inet_service</c> (port mappings).</summary>
    public static NftStatement DnatIpFromMap(NftExpr key, string map) =>
        new($"dnat ip to {key} map @{NftName.Validate(map, nameof(map))}");

    /// <summary><c>dnat ip to ADDRESS[:PORT]</c>.</summary>
    public static NftStatement DnatIp(IPAddress address, ushort? port = null)
    {
        NftValue a = NftValue.Address(address);
        if (a.Type != NftDataType.Ipv4Addr)
        {
            throw new ArgumentException("dnat ip needs an IPv4 address", nameof(address));
        }

        return new(port is null ? $"dnat ip to {a}" : $"dnat ip to {a}:{port}");
    }

    /// <summary><c>masquerade</c> (source NAT to the outgoing interface's address).</summary>
    public static NftStatement Masquerade { get; } = new("masquerade");

    /// <summary><c>log prefix "…"</c>; the prefix is 1–64 characters of letters, digits, space and <c>_ : . - /</c>.</summary>
    public static NftStatement Log(string prefix) =>
        prefix is not null && LogPrefixRegex().IsMatch(prefix)
            ? new($"log prefix \"{prefix}\"")
            : throw new ArgumentException($"log prefix '{prefix}' must be 1-64 of A-Z a-z 0-9 space _ : . - /", nameof(prefix));

    // ---- verdicts ----

    public static NftStatement Accept { get; } = new("accept");

    public static NftStatement Drop { get; } = new("drop");

    /// <summary><c>reject</c>: ICMP (v6) port unreachable, TCP included (what CF's REJECT does).</summary>
    public static NftStatement Reject { get; } = new("reject");

    /// <summary><c>reject with icmpx admin-prohibited</c>.</summary>
    public static NftStatement RejectAdminProhibited { get; } = new("reject with icmpx admin-prohibited");

    public static NftStatement Return { get; } = new("return");

    public static NftStatement Jump(string chain) => new($"jump {NftName.Validate(chain, nameof(chain))}");

    public static NftStatement Goto(string chain) => new($"goto {NftName.Validate(chain, nameof(chain))}");

    public override string ToString() => _text ?? throw new InvalidOperationException($"uninitialised {nameof(NftStatement)}");

    public bool Equals(NftStatement other) => _text == other._text;

    public override bool Equals(object? obj) => obj is NftStatement s && Equals(s);

    public override int GetHashCode() => _text?.GetHashCode(StringComparison.Ordinal) ?? 0;

    /// <summary>Comments: 1–128 printable ASCII characters without quotes or backslashes.</summary>
    internal static string ValidateComment(string comment) =>
        comment is not null && CommentRegex().IsMatch(comment)
            ? comment
            : throw new ArgumentException($"comment '{comment}' must be 1-128 printable ASCII characters without '\"' or '\\'", nameof(comment));

    private static string Values(NftExpr expr, NftValue[] values)
    {
        IReadOnlyList<NftDataType> types = expr.Types;
        if (values.Length != types.Count)
        {
            throw new ArgumentException($"'{expr}' takes {types.Count} value(s), got {values.Length}");
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (values[i].Type != types[i])
            {
                throw new ArgumentException($"'{expr}' field {i + 1} is {types[i].Keyword()}, got {values[i].Type.Keyword()} {values[i]}");
            }

            if (values[i].Type == NftDataType.Verdict)
            {
                throw new ArgumentException("a verdict is not a value to match");
            }
        }

        return string.Join(" . ", values.Select(v => v.ToString()));
    }

    private static string CtStates(NftCtState s)
    {
        if (s == NftCtState.None)
        {
            throw new ArgumentException("no conntrack state given");
        }

        var parts = new List<string>(5);
        if (s.HasFlag(NftCtState.Established))
        {
            parts.Add("established");
        }

        if (s.HasFlag(NftCtState.Related))
        {
            parts.Add("related");
        }

        if (s.HasFlag(NftCtState.New))
        {
            parts.Add("new");
        }

        if (s.HasFlag(NftCtState.Invalid))
        {
            parts.Add("invalid");
        }

        if (s.HasFlag(NftCtState.Untracked))
        {
            parts.Add("untracked");
        }

        return string.Join(',', parts);
    }

    [GeneratedRegex(@"^[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}\z", RegexOptions.CultureInvariant)]
    private static partial Regex CommentRegex();

    [GeneratedRegex(@"^[A-Za-z0-9 _:./-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex LogPrefixRegex();
}
