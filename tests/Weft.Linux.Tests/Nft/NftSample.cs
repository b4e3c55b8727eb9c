using System.Net;
using Weft.Linux.Nft;

namespace Weft.Linux.Tests.Nft;

/// <summary>A table shaped like the one the agent programs (ARCHITECTURE.md steps 3 and 10).</summary>
internal static class NftSample
{
    public static NftValue Ip(string s) => NftValue.Address(IPAddress.Parse(s));

    public static readonly NftDataType[] PolicyKey =
        [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService];

    public static NftElement Policy(uint tag, string dst, NftValue proto, NftValue port) =>
        new([NftValue.Mark(tag), Ip(dst), proto, port]);

    public static NftTable Table(IReadOnlyList<NftElement>? policies = null, NftChainPolicy forwardPolicy = NftChainPolicy.Accept) => new(
        NftFamily.Inet,
        "weft",
        Chains:
        [
            NftChain.Base("prerouting", NftChainType.Filter, NftHook.Prerouting, NftPriority.Mangle, NftChainPolicy.Accept,
            [
                new NftRule(
                [
                    NftStatement.IfNameStartsWith(NftExpr.IifName, "w-"),
                    NftStatement.NotInSet(NftExpr.Concat(NftExpr.IifName, NftExpr.IpSaddr), "antispoof"),
                    NftStatement.Counter,
                    NftStatement.Drop,
                ], "anti-spoof"),
                new NftRule([NftStatement.SetMarkFromMap(NftExpr.IpSaddr, "tags")], "mark by source"),
            ]),
            NftChain.Base("input", NftChainType.Filter, NftHook.Input, NftPriority.Filter, NftChainPolicy.Accept,
            [
                NftRule.Of(NftStatement.Match(NftExpr.UdpDport, NftValue.Port(4789)), NftStatement.NotInSet(NftExpr.IpSaddr, "underlay"), NftStatement.Counter, NftStatement.Drop),
            ]),
            NftChain.Base("forward", NftChainType.Filter, NftHook.Forward, NftPriority.Filter, forwardPolicy,
            [
                NftRule.Of(NftStatement.CtState(NftCtState.Established | NftCtState.Related), NftStatement.Accept),
                new NftRule(
                [
                    NftStatement.InSet(NftExpr.Concat(NftExpr.MetaMark, NftExpr.IpDaddr, NftExpr.L4Proto, NftExpr.ThDport), "policy_allow"),
                    NftStatement.Counter,
                    NftStatement.Accept,
                ], "c2c allow"),
                NftRule.Of(NftStatement.Match(NftExpr.IpDaddr, NftValue.Prefix("10.255.0.0/16")), NftStatement.Jump("c2c_deny")),
            ]),
            NftChain.Regular("c2c_deny", [NftRule.Of(NftStatement.Counter, NftStatement.Reject)]),
            NftChain.Base("dstnat", NftChainType.Nat, NftHook.Prerouting, NftPriority.DstNat, NftChainPolicy.Accept,
            [
                NftRule.Of(NftStatement.Match(NftExpr.IpDaddr, Ip("198.18.0.2")), NftStatement.DnatIpFromMap(NftExpr.Concat(NftExpr.L4Proto, NftExpr.ThDport), "portmap")),
            ]),
            NftChain.Base("srcnat", NftChainType.Nat, NftHook.Postrouting, NftPriority.SrcNat, NftChainPolicy.Accept,
            [
                NftRule.Of(
                    NftStatement.Match(NftExpr.IpSaddr, NftValue.Prefix("10.255.12.0/24")),
                    NftStatement.NotMatch(NftExpr.IpDaddr, NftValue.Prefix("10.255.0.0/16")),
                    NftStatement.NotMatch(NftExpr.OifName, NftValue.IfName("weft-vtep")),
                    NftStatement.Masquerade),
            ]),
        ],
        Sets:
        [
            new NftSet("policy_allow", PolicyKey, NftSetFlags.Interval, policies ??
            [
                Policy(5, "10.255.12.2", NftValue.Tcp, NftValue.PortRange(8080, 8090)),
                Policy(7, "10.255.12.3", NftValue.Udp, NftValue.Port(53)),
            ]),
            new NftSet("underlay", [NftDataType.Ipv4Addr], NftSetFlags.Interval,
            [
                NftElement.Of(NftValue.Prefix("198.18.0.0/24")),
                NftElement.Of(Ip("198.19.0.1")),
            ]),
            new NftSet("antispoof", [NftDataType.IfName, NftDataType.Ipv4Addr], NftSetFlags.None,
            [
                NftElement.Of(NftValue.IfName("w-0aff0c02"), Ip("10.255.12.2")),
            ]),
        ],
        Maps:
        [
            new NftMap("tags", [NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None,
            [
                NftElement.Map(Ip("10.255.12.2"), NftValue.Mark(5)),
            ]),
            new NftMap("dispatch", [NftDataType.IfName], [NftDataType.Verdict], NftSetFlags.None,
            [
                NftElement.Map(NftValue.IfName("w-0aff0c02"), NftValue.Jump("c2c_deny")),
            ]),
            new NftMap("portmap", [NftDataType.InetProto, NftDataType.InetService], [NftDataType.Ipv4Addr, NftDataType.InetService], NftSetFlags.None,
            [
                new NftElement([NftValue.Tcp, NftValue.Port(61012)], [Ip("10.255.12.2"), NftValue.Port(8080)]),
            ]),
        ]);
}
