using System.Net;
using Weft.Agent.Policy;

namespace Weft.Agent.Tests.Policy;

internal static class Samples
{
    public static readonly CellSkeleton Cell = new(IPAddress.Parse("198.18.0.11"), IPNetwork.Parse("10.255.0.0/16"));

    public static LocalContainer Container(string id, string ip, string app, params PortMapping[] pms) =>
        new(id, "eth0", IPAddress.Parse(ip), "w-" + string.Concat(ip.Split('.').Select(o => o.PadLeft(3, '0'))), app, pms);

    public static PolicyInputs Inputs(IReadOnlyList<PolicyRule> policies, params LocalContainer[] containers) =>
        new(Cell, policies, containers, [IPAddress.Parse("198.18.0.11"), IPAddress.Parse("198.18.0.12")]);
}
