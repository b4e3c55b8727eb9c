using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace Weft.Linux.Nft;

/// <summary>
/// Names of tables, chains, sets and maps. nft 1.0.x accepts no quoted identifiers, so a name is
/// safe only when it is a plain word that is not one of nft's keywords (<c>mark</c>, <c>policy</c>,
/// <c>fwd</c>, … would be parsed as syntax). Names are checked, never escaped.
/// </summary>
public static partial class NftName
{
    /// <summary>Letters, digits and underscore, starting with a letter, at most 64 characters.</summary>
    public const string Pattern = "^[A-Za-z][A-Za-z0-9_]{0,63}\\z";

    /// <summary>Whether <paramref name="name"/> can be used as an nft identifier.</summary>
    public static bool IsValid(string? name) =>
        name is not null && NameRegex().IsMatch(name) && !Keywords.Contains(name);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is valid.</summary>
    public static string Validate(string? name, string paramName = "name")
    {
        if (name is null || !NameRegex().IsMatch(name))
        {
            throw new ArgumentException(
                $"'{name}' is not a valid nft name: use letters, digits and '_', starting with a letter, at most 64 characters",
                paramName);
        }

        if (Keywords.Contains(name))
        {
            throw new ArgumentException($"'{name}' is an nft keyword and cannot be used as a name; choose another (e.g. '{name}_')", paramName);
        }

        return name;
    }

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    /// <summary>The words nft's scanner (nftables src/scanner.l, 1.0.6 to 1.1.x) turns into tokens.</summary>
    internal static readonly FrozenSet<string> Keywords = (
        "8021ad 8021q a-rwnd abort accept ackseq add ah alert all and arp asconf asconf-ack audit " +
        "auto-merge avgpkt bridge broute burst bypass cfi cgroup cgroupv2 chain chains check checksum " +
        "chunk class classid code comment comp constant continue cookie-ack cookie-echo count " +
        "counters cpi cpu create crit csumcov ct cum-tsn-ack cwr daddr data dccp debug define dei " +
        "delete describe destroy device devices direction dnat doff dport drop dscp dst dup dynamic " +
        "echo ecn ecne egress element elements emerg eol eq err error erspan esp ether event exists " +
        "expectation expiration expires export exthdr fanout fastopen fib filter flags flow flowlabel " +
        "flowtable flowtables flush forward-tsn frag frag-off fully-random fwd gateway gbp " +
        "gc-interval ge geneve get goto gre gretap group gt handle hbh hdrlength heartbeat " +
        "heartbeat-ack helper helpers hlen hook hooks hoplimit htype ibrhwaddr ibriport ibrname " +
        "ibrpvid ibrvproto icmp icmpv6 icmpx id igmp iif iifgroup iifkind iifname iiftype import in " +
        "inc include index inet info ingress init init-ack init-tag initial-tsn insert interval ip " +
        "ip6 ipsec jhash json jump l3proto l4proto label last last-entry le left level limit limits " +
        "list ll loose lowest-tsn lshift lsrr lt map maps mark masquerade max-delay maxseg md5sig " +
        "memory meta meter meters mh minute missing mod monitor more-fragments mptcp mrt mss mtu nat " +
        "ne netdev never new new-cum-tsn nexthdr nexthop nfproto nftrace nh noop nop not notice " +
        "notrack num num-dup-tsns num-gap-ack-blocks num-inbound-streams num-outbound-streams numgen " +
        "obriport obrname offload offset oif oifgroup oifkind oifname oiftype operation opt-type " +
        "option options or original osf out param-problem path pcp performance persistent pkttype " +
        "plen policy port position ppid priority proto-dst proto-src ptr ptype queue queue-threshold " +
        "quota quotas ra random rate redefine redirect reject rename replace reply reqid reserved " +
        "reserved2 reset return right route rr rshift rt rt0 rt2 rtclassid rule rules ruleset sack " +
        "sack-perm sack-permitted sack0 sack1 sack2 sack3 saddr sctp sdif sdifname secmark secmarks " +
        "second secpath seed seg-left seqno sequence set sets shutdown shutdown-ack shutdown-complete " +
        "sid size skgid skip skuid snaplen snat socket spnum sport srh ssn ssrr state status stream " +
        "subtype symhash synproxy synproxys table tables taddr tag tcp th time timeout timestamp tos " +
        "tproxy trace transparent tsecr tsn tsval ttl tunnel tunnels type typeof udp udplite undefine " +
        "until update urgptr value version vlan vm vmap vni vtag vxlan warn week wildcard window with " +
        "wscale xml xor xt zone ").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToFrozenSet(StringComparer.Ordinal);
}
