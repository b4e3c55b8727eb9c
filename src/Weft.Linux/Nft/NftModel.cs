namespace Weft.Linux.Nft;

/// <summary>nftables address families.</summary>
public enum NftFamily
{
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
}

/// <summary>Base chain types.</summary>
public enum NftChainType
{
    Filter,
    Nat,
    Route,
}

/// <summary>Netfilter hooks a base chain attaches to (ip, ip6, inet families).</summary>
public enum NftHook
{
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

/// <summary>What a base chain does with a packet no rule decided on.</summary>
public enum NftChainPolicy
{
    Accept,
    Drop,
}

/// <summary>Set and map flags.</summary>
[Flags]
public enum NftSetFlags
{
    None = 0,

    /// <summary>Elements may be ranges and prefixes (with concatenated keys: per field).</summary>
    Interval = 1,

    /// <summary>Elements are fixed when the set is created.</summary>
    Constant = 2,

    /// <summary>Elements may carry timeouts.</summary>
    Timeout = 4,
}

/// <summary>The data types Weft uses in set and map keys and values (nft's type names in comments).</summary>
public enum NftDataType
{
    /// <summary>No type: a <c>default</c> <see cref="NftValue"/>, which cannot be rendered.</summary>
    None = 0,

    /// <summary><c>ipv4_addr</c></summary>
    Ipv4Addr,

    /// <summary><c>ipv6_addr</c></summary>
    Ipv6Addr,

    /// <summary><c>mark</c> (32 bits; VXLAN-GBP carries the low 16)</summary>
    Mark,

    /// <summary><c>inet_proto</c> (IP protocol number)</summary>
    InetProto,

    /// <summary><c>inet_service</c> (TCP/UDP/SCTP port)</summary>
    InetService,

    /// <summary><c>ifname</c> (interface name, up to 15 characters)</summary>
    IfName,

    /// <summary><c>verdict</c> (map values only)</summary>
    Verdict,
}

/// <summary>Standard base-chain priorities (nft's named priorities for the ip/ip6/inet families).</summary>
public static class NftPriority
{
    public const int Raw = -300;
    public const int Mangle = -150;
    public const int DstNat = -100;
    public const int Filter = 0;
    public const int Security = 50;
    public const int SrcNat = 100;
}

/// <summary>
/// One nftables table with everything in it. Rendered by <see cref="NftBatch.ReplaceTable"/> into a
/// transaction that replaces the table as a whole.
/// </summary>
public sealed record NftTable(
    NftFamily Family,
    string Name,
    IReadOnlyList<NftChain> Chains,
    IReadOnlyList<NftSet> Sets,
    IReadOnlyList<NftMap> Maps)
{
    /// <summary>The set or map named <paramref name="name"/>, or null.</summary>
    public INftSetLike? FindSetOrMap(string name) =>
        (INftSetLike?)Sets.FirstOrDefault(s => s.Name == name) ?? Maps.FirstOrDefault(m => m.Name == name);

    /// <summary><c>inet weft</c>: the family keyword and the name, as nft commands spell them.</summary>
    public string Spec => $"{Family.Keyword()} {Name}";
}

/// <summary>Hook attachment of a base chain.</summary>
public sealed record NftChainHook(NftChainType Type, NftHook Hook, int Priority, NftChainPolicy Policy = NftChainPolicy.Accept);

/// <summary>
/// A chain: a base chain when <see cref="Hook"/> is set (packets enter it from the hook), otherwise a
/// regular chain reached by jump/goto or a verdict map.
/// </summary>
public sealed record NftChain(string Name, NftChainHook? Hook, IReadOnlyList<NftRule> Rules)
{
    /// <summary>A base chain attached to <paramref name="hook"/>.</summary>
    public static NftChain Base(string name, NftChainType type, NftHook hook, int priority, NftChainPolicy policy, IReadOnlyList<NftRule> rules) =>
        new(name, new NftChainHook(type, hook, priority, policy), rules);

    /// <summary>A regular chain (jump/goto target).</summary>
    public static NftChain Regular(string name, IReadOnlyList<NftRule> rules) => new(name, null, rules);
}

/// <summary>What sets and maps have in common.</summary>
public interface INftSetLike
{
    string Name { get; }

    IReadOnlyList<NftDataType> KeyTypes { get; }

    /// <summary>Empty for a set.</summary>
    IReadOnlyList<NftDataType> ValueTypes { get; }

    NftSetFlags Flags { get; }

    IReadOnlyList<NftElement> Elements { get; }
}

/// <summary>
/// A named set. <see cref="KeyTypes"/> with more than one type is a concatenation
/// (<c>type mark . ipv4_addr . inet_proto . inet_service</c>); with <see cref="NftSetFlags.Interval"/>
/// each field of an element may be a range or prefix.
/// </summary>
public sealed record NftSet(string Name, IReadOnlyList<NftDataType> KeyTypes, NftSetFlags Flags, IReadOnlyList<NftElement> Elements) : INftSetLike
{
    IReadOnlyList<NftDataType> INftSetLike.ValueTypes => [];
}

/// <summary>
/// A named map from <see cref="KeyTypes"/> to <see cref="ValueTypes"/> (a verdict map when the value
/// type is <see cref="NftDataType.Verdict"/>; a concatenated value such as <c>ipv4_addr . inet_service</c>
/// for DNAT).
/// </summary>
public sealed record NftMap(
    string Name,
    IReadOnlyList<NftDataType> KeyTypes,
    IReadOnlyList<NftDataType> ValueTypes,
    NftSetFlags Flags,
    IReadOnlyList<NftElement> Elements) : INftSetLike;

/// <summary>
/// A set element (<see cref="Value"/> null) or a map element. Each list has one value per key/value type.
/// Equality compares the values, so elements read back from the kernel compare equal to the
/// elements that were added.
/// </summary>
public sealed record NftElement(IReadOnlyList<NftValue> Key, IReadOnlyList<NftValue>? Value = null)
{
    /// <summary>A set element with a (possibly concatenated) key.</summary>
    public static NftElement Of(params NftValue[] key) => new(key);

    /// <summary>A map element with a single-field key and value.</summary>
    public static NftElement Map(NftValue key, NftValue value) => new([key], [value]);

    public bool Equals(NftElement? other) =>
        other is not null
        && Key.SequenceEqual(other.Key)
        && (Value is null ? other.Value is null : other.Value is not null && Value.SequenceEqual(other.Value));

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (NftValue v in Key)
        {
            h.Add(v);
        }

        h.Add(Value is null ? 0 : 1);
        if (Value is not null)
        {
            foreach (NftValue v in Value)
            {
                h.Add(v);
            }
        }

        return h.ToHashCode();
    }

    /// <summary>nft syntax: <c>k1 . k2</c> or <c>k1 . k2 : v1 . v2</c>.</summary>
    public override string ToString() =>
        Value is null ? string.Join(" . ", Key) : $"{string.Join(" . ", Key)} : {string.Join(" . ", Value)}";
}

/// <summary>
/// A rule: statements built by <see cref="NftStatement"/>'s typed helpers (each validated when built),
/// and an optional comment that identifies the rule when the table is read back.
/// </summary>
public sealed record NftRule(IReadOnlyList<NftStatement> Statements, string? Comment = null)
{
    /// <summary>A rule from statements, without comment.</summary>
    public static NftRule Of(params NftStatement[] statements) => new(statements);

    public bool Equals(NftRule? other) =>
        other is not null && Comment == other.Comment && Statements.SequenceEqual(other.Statements);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Comment);
        foreach (NftStatement s in Statements)
        {
            h.Add(s);
        }

        return h.ToHashCode();
    }
}

/// <summary>nft keywords for the model's enums.</summary>
public static class NftKeywords
{
    public static string Keyword(this NftFamily family) => family switch
    {
        NftFamily.Ip => "ip",
        NftFamily.Ip6 => "ip6",
        NftFamily.Inet => "inet",
        NftFamily.Arp => "arp",
        NftFamily.Bridge => "bridge",
        NftFamily.Netdev => "netdev",
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    public static string Keyword(this NftChainType type) => type switch
    {
        NftChainType.Filter => "filter",
        NftChainType.Nat => "nat",
        NftChainType.Route => "route",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static string Keyword(this NftHook hook) => hook switch
    {
        NftHook.Prerouting => "prerouting",
        NftHook.Input => "input",
        NftHook.Forward => "forward",
        NftHook.Output => "output",
        NftHook.Postrouting => "postrouting",
        _ => throw new ArgumentOutOfRangeException(nameof(hook)),
    };

    public static string Keyword(this NftChainPolicy policy) => policy switch
    {
        NftChainPolicy.Accept => "accept",
        NftChainPolicy.Drop => "drop",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    public static string Keyword(this NftDataType type) => type switch
    {
        NftDataType.Ipv4Addr => "ipv4_addr",
        NftDataType.Ipv6Addr => "ipv6_addr",
        NftDataType.Mark => "mark",
        NftDataType.InetProto => "inet_proto",
        NftDataType.InetService => "inet_service",
        NftDataType.IfName => "ifname",
        NftDataType.Verdict => "verdict",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    internal static NftDataType ParseDataType(string keyword) => keyword switch
    {
        "ipv4_addr" => NftDataType.Ipv4Addr,
        "ipv6_addr" => NftDataType.Ipv6Addr,
        "mark" => NftDataType.Mark,
        "inet_proto" => NftDataType.InetProto,
        "inet_service" => NftDataType.InetService,
        "ifname" => NftDataType.IfName,
        "verdict" => NftDataType.Verdict,
        _ => throw new FormatException($"nft data type '{keyword}' is not one Weft models"),
    };

    internal static string Flags(NftSetFlags flags)
    {
        var parts = new List<string>(3);
        if (flags.HasFlag(NftSetFlags.Constant))
        {
            parts.Add("constant");
        }

        if (flags.HasFlag(NftSetFlags.Interval))
        {
            parts.Add("interval");
        }

        if (flags.HasFlag(NftSetFlags.Timeout))
        {
            parts.Add("timeout");
        }

        return string.Join(',', parts);
    }
}
