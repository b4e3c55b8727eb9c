using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>
/// Ways into and out of the overlay, end to end: a real weft-server, a real weft-agent per cell and
/// containers made by the real bin/weft-cni with CNI <c>runtimeConfig.portMappings</c> and metadata ports.
/// A namespace on the underlay stands in for the outside (a client, the internet).
/// </summary>
public sealed class IngressEndToEndTests : IDisposable
{
    private const string Outside = "198.18.0.50";
    private readonly WeftCluster _c = new(("ca", "198.18.0.11"), ("cb", "198.18.0.12"));
    private readonly FabricContainer _backend, _router, _third;
    private readonly string _outside;

    public IngressEndToEndTests()
    {
        try
        {
            if (!File.Exists(_c.Bin("weft-cni"))) throw new InvalidOperationException("bin/weft-cni is missing: run ./build.sh first");
            _c.StartAgent("ca");
            _c.StartAgent("cb");
            // The backend listens on its metadata port 8080, published on ca's host port 61080.
            _backend = _c.AddContainerWithCni("ca", "be1", "backend", ports: "8080", portMappings: [(61080, 8080)]);
            _router = _c.AddContainerWithCni("cb", "rt1", "INGRESS_ROUTER", ports: "");
            _third = _c.AddContainerWithCni("cb", "th1", "third", ports: "");
            _outside = _c.Fabric.AddCell("out", Outside).Ns;
            _c.WaitForEnforcement("ca", _backend);
            _c.WaitForEnforcement("cb", _router, _third);
        }
        catch
        {
            _c.Dispose(); // a constructor that throws is never disposed
            throw;
        }
    }

    public void Dispose() => _c.Dispose();

    private void Eventually(Func<Task<bool>> probe, string what) =>
        WeftCluster.WaitUntil(() => probe().Result, what, () => string.Join("\n", _c.AgentLogs.Select(kv => $"--- {kv.Key}\n{kv.Value}")));

    [RootFact]
    public async Task A_cni_port_mapping_takes_tcp_from_outside_to_the_container()
    {
        var peers = new ConcurrentQueue<IPEndPoint>();
        using var l = Probe.Listen(_backend.Ns, 8080, peers);
        Eventually(() => Probe.CanConnect(_outside, _c.Cells["ca"].UnderlayIp, 61080), "the host port to reach the container");
        Assert.Equal([IPAddress.Parse(Outside)], peers.Select(p => p.Address).Distinct());
        Assert.False(await Probe.CanConnect(_outside, _c.Cells["cb"].UnderlayIp, 61080)); // mapped on ca only
    }

    [RootFact]
    public async Task The_router_reaches_metadata_ports_across_cells_without_a_policy()
    {
        using var l1 = Probe.Listen(_backend.Ns, 8080);
        using var l2 = Probe.Listen(_backend.Ns, 9090);
        Eventually(() => Probe.CanConnect(_router.Ns, _backend.Ip, 8080), "the router to reach the backend's metadata port");
        Assert.False(await Probe.CanConnect(_router.Ns, _backend.Ip, 9090)); // not a metadata port
        Assert.False(await Probe.CanConnect(_third.Ns, _backend.Ip, 8080));  // other apps need a policy

        // Both agents enforce the tag the server gave the router.
        var tags = new List<int>();
        foreach (var cell in new[] { "ca", "cb" })
        {
            var (status, body) = await _c.AgentGet(cell, "/state");
            Assert.Equal(200, status);
            using var doc = JsonDocument.Parse(body);
            tags.Add(doc.RootElement.GetProperty("router_tag").GetInt32());
        }
        var (s, tagBody) = await _c.Http(HttpMethod.Get, "/networking/v1/external/tags", null);
        Assert.Equal(200, s);
        using var tagDoc = JsonDocument.Parse(tagBody);
        var serverTag = tagDoc.RootElement.GetProperty("tags").EnumerateArray()
            .Single(t => t.GetProperty("id").GetString() == "INGRESS_ROUTER").GetProperty("tag").GetString();
        Assert.All(tags, t => Assert.Equal(Convert.ToInt32(serverTag, 16), t));
    }

    [RootFact]
    public async Task A_container_reaching_outside_the_overlay_is_masqueraded_to_its_cell_ip()
    {
        using var listener = CellFabric.Socket(_outside, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Any, 7000));
        listener.Listen(4);
        var accepted = listener.AcceptAsync();
        using var conn = await Probe.Connect(_backend.Ns, IPAddress.Parse(Outside), 7000);
        Assert.NotNull(conn);
        using var peer = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(_c.Cells["ca"].UnderlayIp, ((IPEndPoint)peer.RemoteEndPoint!).Address);
    }

    [RootFact]
    public void The_registry_gets_org_id_ports_and_names_from_the_cni_metadata()
    {
        JsonElement? backend = null;
        WeftCluster.WaitUntil(() =>
        {
            var (status, body) = _c.Http(HttpMethod.Get, "/weft/v1/registry", null).Result;
            if (status != 200) return false;
            using var doc = JsonDocument.Parse(body);
            backend = doc.RootElement.GetProperty("cells").EnumerateArray()
                .SelectMany(c => c.GetProperty("containers").EnumerateArray())
                .Where(c => c.GetProperty("container_id").GetString() == "be1")
                .Select(c => (JsonElement?)c.Clone()).FirstOrDefault();
            return backend is not null;
        }, "the backend in the registry");
        var b = backend!.Value;
        Assert.Equal("org", b.GetProperty("org_id").GetString());
        Assert.Equal("space", b.GetProperty("space_id").GetString());
        Assert.Equal(WeftCluster.AppName("backend"), b.GetProperty("app_name").GetString());
        Assert.Equal(_backend.Ip.ToString(), b.GetProperty("ip").GetString());
        Assert.Equal([8080], b.GetProperty("ports").EnumerateArray().Select(p => p.GetInt32()));
    }
}
