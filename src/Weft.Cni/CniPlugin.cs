using System.Text.Json;

namespace Weft.Cni;

/// <summary>
/// weft-cni's commands (ADD, DEL, CHECK, STATUS, GC, VERSION) over a kernel driver, the IPAM store and the
/// container records. Throws <see cref="CniException"/> (or the driver's kernel exceptions); the executable
/// turns those into CNI error JSON.
/// </summary>
public sealed class CniPlugin
{
    private readonly IAttachmentDriver _driver;

    public CniPlugin(IAttachmentDriver driver) => _driver = driver;

    /// <summary>
    /// Test hook: called with the name of each ADD step ("ipam", "link", "veth", "container", "host", "record",
    /// "notify" …) before it runs; throwing from it simulates a failure at that point.
    /// </summary>
    public Action<string>? FaultPoint { get; set; }

    /// <summary>Runs one command; returns what goes to stdout (empty for DEL, STATUS, GC).</summary>
    public byte[] Execute(CniRequest request, ReadOnlySpan<byte> stdin)
    {
        if (request.Command == CniCommand.Version)
        {
            return CniOutput.Version(CniVersion.Current);
        }

        var conf = NetConf.Parse(stdin);
        CniTrace.Mark("config parsed");
        switch (request.Command)
        {
            case CniCommand.Add:
                return Add(request, conf);
            case CniCommand.Del:
                Del(request, conf);
                return [];
            case CniCommand.Check:
                Check(request, conf);
                return [];
            case CniCommand.Status:
                Status(conf);
                return [];
            case CniCommand.Gc:
                Gc(conf);
                return [];
            default:
                throw new CniException(CniErrorCode.InvalidEnvironment, $"unknown command {request.Command}");
        }
    }

    /// <summary>The cell's subnet and MTU: the config's <c>subnet</c>/<c>mtu</c>, else the agent's lease.</summary>
    /// <exception cref="CniException">11 when neither the config nor the agent names a subnet.</exception>
    public static (Ipv4Subnet Subnet, int Mtu) ResolveNetwork(NetConf conf)
    {
        Lease? lease = null;
        if (conf.Subnet is null || conf.Mtu is null)
        {
            lease = Lease.Read(conf.StateDir);
        }

        var subnet = conf.Subnet ?? lease?.Subnet
            ?? throw new CniException(CniErrorCode.TryAgainLater, "the cell has no subnet lease yet",
                $"weft-agent has not written {Path.Combine(conf.StateDir, Lease.FileName)}; retry when the agent is up (or set \"subnet\" in the config)");
        return (subnet, conf.Mtu ?? lease?.Mtu ?? 1450);
    }

    private void Step(string name)
    {
        CniTrace.Mark(name);
        FaultPoint?.Invoke(name);
    }

    private byte[] Add(CniRequest request, NetConf conf)
    {
        var (subnet, mtu) = ResolveNetwork(conf);
        CniTrace.Mark("network resolved");
        _driver.EnsureNetns(request.Netns!);
        CniTrace.Mark("netns checked");
        var containerId = request.ContainerId!;
        var ifName = request.IfName!;

        // Everything about the record is validated before anything is created.
        var store = new IpamStore(conf.DataDir, conf.DurableIpam);
        var records = new ContainerRecords(conf.StateDir);
        var described = ContainerRecord.Describe(request, conf, subnet.Network, DateTimeOffset.UtcNow);

        Step("ipam");
        Ipv4 ip;
        bool replace;
        using (var session = store.Open())
        {
            var before = session.State.Find(containerId, ifName);
            ip = session.State.Allocate(subnet, containerId, ifName);
            replace = before is not null && before.Ip == ip;
            if (before is not null && before.Ip != ip)
            {
                // Made under an old subnet: its host veth has another name; remove it.
                _driver.Detach(Naming.HostVeth(before.Ip), request.Netns, ifName);
            }

            session.Commit();
        }

        CniTrace.Mark("ipam committed");
        var spec = new AttachmentSpec(request.Netns!, ifName, ip, mtu);
        var attached = false;
        try
        {
            Step("link");
            _driver.Attach(spec, replace, Step);
            attached = true;
            Step("record");
            records.Write(described with { Ip = ip, HostVeth = Naming.HostVeth(ip), CreatedAt = DateTimeOffset.UtcNow });
            Step("notify");
            var result = CniOutput.AddResult(conf.CniVersion, conf.PrevResult, spec);
            AgentNotifier.Notify(conf.StateDir);
            CniTrace.Mark("done");
            return result;
        }
        catch
        {
            // Roll back everything this ADD made: record, links, address.
            RollBack(() => records.Remove(containerId, ifName));
            if (attached)
            {
                RollBack(() => _driver.Detach(spec.HostVeth, spec.Netns, ifName));
            }

            RollBack(() =>
            {
                using var session = store.Open();
                session.State.Release(containerId, ifName);
                session.Commit();
            });
            throw;
        }
    }

    private static void RollBack(Action undo)
    {
        try
        {
            undo();
        }
        catch (Exception)
        {
            // The original failure is what the runtime must see; a failed undo is retried by DEL/GC.
        }
    }

    private void Del(CniRequest request, NetConf conf)
    {
        var containerId = request.ContainerId!;
        var ifName = request.IfName!;
        var store = new IpamStore(conf.DataDir, conf.DurableIpam);
        var records = new ContainerRecords(conf.StateDir);

        // A shared-lock read is a whole snapshot. While this attachment holds its address nobody else can get it,
        // so its host veth (named after the address) is its own: the link goes before the address is freed, so a
        // concurrent ADD can never get this address while that veth still exists.
        var ip = store.Read().Find(containerId, ifName)?.Ip;
        CniTrace.Mark("del: looked up");
        if (ip is { } owned)
        {
            _driver.Detach(Naming.HostVeth(owned), request.Netns, ifName);
        }
        else if (records.Read(containerId, ifName)?.Ip is { } recorded)
        {
            // No allocation, but a record (it outlived the allocation: an interrupted DEL, a GC, a restored store).
            // Its address may belong to another container by now, and then so does the veth named after it: detach
            // only while the address is free, under the store's lock so that no ADD can take it meanwhile.
            using var session = store.Open();
            if (session.State.FindIp(recorded) is null)
            {
                _driver.Detach(Naming.HostVeth(recorded), request.Netns, ifName);
            }
        }

        CniTrace.Mark("del: detached");

        var removed = records.Remove(containerId, ifName);
        if (ip is not null)
        {
            using var session = store.Open();
            session.State.Release(containerId, ifName);
            session.Commit();
        }

        if (removed)
        {
            AgentNotifier.Notify(conf.StateDir);
        }

        CniTrace.Mark("del: done");
    }

    private void Check(CniRequest request, NetConf conf)
    {
        if (!CniVersion.HasCheck(conf.CniVersion))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion, $"CHECK is not defined for cniVersion {conf.CniVersion}", "CHECK needs cniVersion 0.4.0 or later");
        }

        if (conf.PrevResult is null)
        {
            throw new CniException(CniErrorCode.InvalidConfig, "CHECK needs prevResult", "the runtime passes the cached ADD result as prevResult");
        }

        var (subnet, mtu) = ResolveNetwork(conf);
        _driver.EnsureNetns(request.Netns!);
        var containerId = request.ContainerId!;
        var ifName = request.IfName!;
        var allocation = new IpamStore(conf.DataDir, conf.DurableIpam).Read().Find(containerId, ifName)
            ?? throw new CniException(CniErrorCode.CheckFailed, $"{containerId}/{ifName} holds no address", "the IPAM store has no allocation for this attachment");
        if (!subnet.Contains(allocation.Ip))
        {
            throw new CniException(CniErrorCode.CheckFailed, $"{containerId}/{ifName} holds {allocation.Ip}, outside the cell's subnet {subnet}");
        }

        var record = new ContainerRecords(conf.StateDir).Read(containerId, ifName)
            ?? throw new CniException(CniErrorCode.CheckFailed, $"{containerId}/{ifName} has no container record");
        if (record.Ip != allocation.Ip)
        {
            throw new CniException(CniErrorCode.CheckFailed, $"{containerId}/{ifName}: record says {record.Ip}, IPAM says {allocation.Ip}");
        }

        CheckPrevResult(conf.PrevResult, allocation.Ip, ifName);
        _driver.Check(new AttachmentSpec(request.Netns!, ifName, allocation.Ip, mtu));
    }

    private static void CheckPrevResult(string prevResult, Ipv4 ip, string ifName)
    {
        try
        {
            using var doc = JsonDocument.Parse(prevResult);
            var want = $"{ip}/32";
            if (!Lists(doc.RootElement, "ips", "address", want))
            {
                throw new CniException(CniErrorCode.CheckFailed, $"prevResult does not list {want}", "the attachment's address changed since ADD");
            }

            if (!Lists(doc.RootElement, "interfaces", "name", ifName))
            {
                throw new CniException(CniErrorCode.CheckFailed, $"prevResult does not list interface {ifName}");
            }
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "prevResult is not valid JSON", e.Message);
        }
    }

    /// <summary>Whether array <paramref name="array"/> of <paramref name="root"/> has an object whose <paramref name="key"/> is <paramref name="value"/>.</summary>
    private static bool Lists(JsonElement root, string array, string key, string value)
    {
        if (!root.TryGetProperty(array, out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        foreach (var e in items.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == value)
            {
                return true;
            }
        }

        return false;
    }

    private static void Status(NetConf conf)
    {
        RequireStatusAndGc(conf, "STATUS");
        Ipv4Subnet subnet;
        try
        {
            subnet = ResolveNetwork(conf).Subnet;
        }
        catch (CniException e) when (e.Code == CniErrorCode.TryAgainLater)
        {
            throw new CniException(CniErrorCode.NotAvailable, "weft-cni is not ready: the cell has no subnet lease yet", e.Details);
        }

        var free = new IpamStore(conf.DataDir, conf.DurableIpam).Read().Free(subnet);
        if (free <= 0)
        {
            throw new CniException(CniErrorCode.NotAvailable, $"weft-cni is not ready: no free address in {subnet}", "delete containers or run GC");
        }
    }

    private void Gc(NetConf conf)
    {
        RequireStatusAndGc(conf, "GC");
        var valid = new HashSet<AttachmentKey>(conf.ValidAttachments
            ?? throw new CniException(CniErrorCode.InvalidConfig, "GC needs cni.dev/valid-attachments", "the runtime lists the attachments to keep"));
        var store = new IpamStore(conf.DataDir, conf.DurableIpam);
        var records = new ContainerRecords(conf.StateDir);
        var stale = records.List();
        stale.RemoveAll(r => valid.Contains(r.Key));
        var changed = false;
        using (var session = store.Open())
        {
            var freed = new List<Allocation>();
            foreach (var a in session.State.Allocations)
            {
                if (!valid.Contains(a.Key))
                {
                    freed.Add(a);
                }
            }

            foreach (var a in freed)
            {
                var netns = stale.Find(r => r.Key == a.Key)?.Netns;
                _driver.Detach(Naming.HostVeth(a.Ip), netns, a.IfName);
                session.State.Release(a.ContainerId, a.IfName);
            }

            foreach (var r in stale)
            {
                // A record without an allocation: its address (and the veth named after it) may be another
                // attachment's by now; that one is not touched.
                if (!freed.Exists(a => a.Key == r.Key) && session.State.FindIp(r.Ip) is null)
                {
                    _driver.Detach(r.HostVeth, r.Netns, r.IfName);
                }

                changed |= records.Remove(r.ContainerId, r.IfName);
            }

            session.Commit();
            changed |= freed.Count > 0;
            _driver.Reap(ip => session.State.FindIp(ip) is not null);
        }

        if (changed)
        {
            AgentNotifier.Notify(conf.StateDir);
        }
    }

    private static void RequireStatusAndGc(NetConf conf, string command)
    {
        if (!CniVersion.HasStatusAndGc(conf.CniVersion))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion, $"{command} is not defined for cniVersion {conf.CniVersion}", $"{command} needs cniVersion 1.1.0");
        }
    }
}
