using System.Globalization;
using System.Text.Json;

namespace Weft.Linux.Nft;

/// <summary>A rule as read back: where it is, its handle, comment and counter (when it has one).</summary>
public sealed record NftRuleState(string Chain, long Handle, string? Comment, long? Packets, long? Bytes);

/// <summary>
/// Reads nft's JSON (<c>nft -j list table …</c>, <see cref="NftContext.ListTableJson"/>) back into the
/// model: sets and maps with typed elements (comparable with the elements that were added), chains
/// with their hooks, rules with handles, comments and counters. Uses <see cref="JsonDocument"/>
/// only (no reflection; NativeAOT-safe).
/// </summary>
public static class NftJson
{
    /// <summary>The elements of the set or map named <paramref name="setOrMap"/>.</summary>
    public static IReadOnlyList<NftElement> ReadElements(string json, string setOrMap)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        foreach ((string kind, JsonElement o) in Objects(doc))
        {
            if (kind is "set" or "map" && o.GetProperty("name").GetString() == setOrMap)
            {
                return ReadSetLike(o).Elements;
            }
        }

        throw new KeyNotFoundException($"no set or map '{setOrMap}' in the JSON");
    }

    /// <summary>
    /// The table's chains (with hooks; rules are not decompiled, see <see cref="ReadRules"/>), sets
    /// and maps with their elements.
    /// </summary>
    public static NftTable ReadTable(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        NftFamily? family = null;
        string? name = null;
        var chains = new List<NftChain>();
        var sets = new List<NftSet>();
        var maps = new List<NftMap>();
        foreach ((string kind, JsonElement o) in Objects(doc))
        {
            switch (kind)
            {
                case "table":
                    family = ParseFamily(o.GetProperty("family").GetString());
                    name = o.GetProperty("name").GetString();
                    break;
                case "chain":
                    chains.Add(ReadChain(o));
                    break;
                case "set":
                case "map":
                    INftSetLike s = ReadSetLike(o);
                    if (s is NftMap m)
                    {
                        maps.Add(m);
                    }
                    else
                    {
                        sets.Add((NftSet)s);
                    }

                    break;
            }
        }

        if (family is null || name is null)
        {
            throw new FormatException("no table in the JSON");
        }

        return new NftTable(family.Value, name, chains, sets, maps);
    }

    /// <summary>The rules (of one chain, or all when <paramref name="chain"/> is null), in order.</summary>
    public static IReadOnlyList<NftRuleState> ReadRules(string json, string? chain = null)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        var rules = new List<NftRuleState>();
        foreach ((string kind, JsonElement o) in Objects(doc))
        {
            if (kind != "rule")
            {
                continue;
            }

            string c = o.GetProperty("chain").GetString()!;
            if (chain is not null && c != chain)
            {
                continue;
            }

            string? comment = o.TryGetProperty("comment", out JsonElement ce) ? ce.GetString() : null;
            long? packets = null, bytes = null;
            if (o.TryGetProperty("expr", out JsonElement exprs))
            {
                foreach (JsonElement e in exprs.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("counter", out JsonElement counter) && counter.ValueKind == JsonValueKind.Object)
                    {
                        packets = counter.GetProperty("packets").GetInt64();
                        bytes = counter.GetProperty("bytes").GetInt64();
                    }
                }
            }

            rules.Add(new NftRuleState(c, o.GetProperty("handle").GetInt64(), comment, packets, bytes));
        }

        return rules;
    }

    private static IEnumerable<(string Kind, JsonElement Obj)> Objects(JsonDocument doc)
    {
        if (!doc.RootElement.TryGetProperty("nftables", out JsonElement items) || items.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("not nft JSON: no \"nftables\" array");
        }

        foreach (JsonElement item in items.EnumerateArray())
        {
            foreach (JsonProperty p in item.EnumerateObject())
            {
                yield return (p.Name, p.Value);
            }
        }
    }

    private static NftChain ReadChain(JsonElement o)
    {
        string name = o.GetProperty("name").GetString()!;
        NftChainHook? hook = null;
        if (o.TryGetProperty("hook", out JsonElement h))
        {
            hook = new NftChainHook(
                o.GetProperty("type").GetString() switch
                {
                    "filter" => NftChainType.Filter,
                    "nat" => NftChainType.Nat,
                    "route" => NftChainType.Route,
                    string other => throw new FormatException($"chain type '{other}'"),
                    null => throw new FormatException("chain without type"),
                },
                h.GetString() switch
                {
                    "prerouting" => NftHook.Prerouting,
                    "input" => NftHook.Input,
                    "forward" => NftHook.Forward,
                    "output" => NftHook.Output,
                    "postrouting" => NftHook.Postrouting,
                    string other => throw new FormatException($"hook '{other}'"),
                    null => throw new FormatException("chain without hook"),
                },
                o.GetProperty("prio").GetInt32(),
                o.TryGetProperty("policy", out JsonElement p) && p.GetString() == "drop" ? NftChainPolicy.Drop : NftChainPolicy.Accept);
        }

        return new NftChain(name, hook, []);
    }

    private static INftSetLike ReadSetLike(JsonElement o)
    {
        string name = o.GetProperty("name").GetString()!;
        IReadOnlyList<NftDataType> keyTypes = ReadTypes(o.GetProperty("type"));
        IReadOnlyList<NftDataType> valueTypes = o.TryGetProperty("map", out JsonElement mt) ? ReadTypes(mt) : [];
        NftSetFlags flags = NftSetFlags.None;
        if (o.TryGetProperty("flags", out JsonElement fl))
        {
            foreach (JsonElement f in fl.ValueKind == JsonValueKind.Array ? fl.EnumerateArray() : Enumerable.Repeat(fl, 1))
            {
                flags |= f.GetString() switch
                {
                    "interval" => NftSetFlags.Interval,
                    "constant" => NftSetFlags.Constant,
                    "timeout" => NftSetFlags.Timeout,
                    _ => NftSetFlags.None,
                };
            }
        }

        var elements = new List<NftElement>();
        if (o.TryGetProperty("elem", out JsonElement elems))
        {
            foreach (JsonElement e in elems.EnumerateArray())
            {
                if (valueTypes.Count == 0)
                {
                    elements.Add(new NftElement(ReadFields(Unwrap(e), keyTypes)));
                }
                else
                {
                    // Map elements are [key, value].
                    elements.Add(new NftElement(ReadFields(Unwrap(e[0]), keyTypes), ReadFields(Unwrap(e[1]), valueTypes)));
                }
            }
        }

        return valueTypes.Count == 0
            ? new NftSet(name, keyTypes, flags, elements)
            : new NftMap(name, keyTypes, valueTypes, flags, elements);
    }

    /// <summary>"type": "ipv4_addr" | ["mark", "ipv4_addr"]; "map": "ipv4_addr . inet_service".</summary>
    private static IReadOnlyList<NftDataType> ReadTypes(JsonElement t) =>
        t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Select(x => NftKeywords.ParseDataType(x.GetString()!)).ToArray()
            : t.GetString()!.Split(" . ").Select(NftKeywords.ParseDataType).ToArray();

    /// <summary>Elements with options (timeout, counter, comment) come as {"elem": {"val": …}}.</summary>
    private static JsonElement Unwrap(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("elem", out JsonElement inner) && inner.TryGetProperty("val", out JsonElement val) ? val : e;

    private static NftValue[] ReadFields(JsonElement e, IReadOnlyList<NftDataType> types)
    {
        if (types.Count == 1)
        {
            return [ReadValue(e, types[0])];
        }

        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("concat", out JsonElement parts))
        {
            throw new FormatException($"expected a concatenation of {types.Count} fields, got {e.GetRawText()}");
        }

        var values = new NftValue[types.Count];
        int i = 0;
        foreach (JsonElement p in parts.EnumerateArray())
        {
            if (i == types.Count)
            {
                throw new FormatException($"too many fields in {e.GetRawText()}");
            }

            values[i] = ReadValue(p, types[i]);
            i++;
        }

        return i == types.Count ? values : throw new FormatException($"too few fields in {e.GetRawText()}");
    }

    private static NftValue ReadValue(JsonElement e, NftDataType type)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            if (e.TryGetProperty("range", out JsonElement r))
            {
                return NftValue.Range(type, ReadValue(r[0], type), ReadValue(r[1], type));
            }

            if (e.TryGetProperty("prefix", out JsonElement p))
            {
                return NftValue.Prefix(NftValue.ParseAddress(p.GetProperty("addr").GetString()!), p.GetProperty("len").GetInt32());
            }

            if (type == NftDataType.Verdict)
            {
                foreach (JsonProperty v in e.EnumerateObject())
                {
                    return v.Name switch
                    {
                        "accept" => NftValue.Accept,
                        "drop" => NftValue.Drop,
                        "continue" => NftValue.Continue,
                        "return" => NftValue.Return,
                        "jump" => NftValue.Jump(v.Value.GetProperty("target").GetString()!),
                        "goto" => NftValue.Goto(v.Value.GetProperty("target").GetString()!),
                        _ => throw new FormatException($"verdict '{v.Name}'"),
                    };
                }
            }

            throw new FormatException($"cannot read {type.Keyword()} from {e.GetRawText()}");
        }

        switch (type)
        {
            case NftDataType.Ipv4Addr:
            case NftDataType.Ipv6Addr:
                return NftValue.Address(NftValue.ParseAddress(e.GetString()!));
            case NftDataType.IfName:
                return NftValue.IfName(e.GetString()!);
            case NftDataType.Mark:
            case NftDataType.InetService:
            case NftDataType.InetProto:
                ulong n;
                if (e.ValueKind == JsonValueKind.Number)
                {
                    n = e.GetUInt64();
                }
                else
                {
                    string s = e.GetString()!;
                    if (type == NftDataType.InetProto && NftValue.ProtocolNumber(s) is byte proto)
                    {
                        n = proto;
                    }
                    else if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
                    {
                        n = ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    }
                    else
                    {
                        n = ulong.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
                    }
                }

                return NftValue.Single(type, n);
            case NftDataType.Verdict:
                throw new FormatException($"cannot read a verdict from {e.GetRawText()}");
            default:
                throw new FormatException($"type {type}");
        }
    }

    private static NftFamily ParseFamily(string? f) => f switch
    {
        "ip" => NftFamily.Ip,
        "ip6" => NftFamily.Ip6,
        "inet" => NftFamily.Inet,
        "arp" => NftFamily.Arp,
        "bridge" => NftFamily.Bridge,
        "netdev" => NftFamily.Netdev,
        _ => throw new FormatException($"family '{f}'"),
    };
}
