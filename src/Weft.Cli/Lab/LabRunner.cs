using System.Net;
using System.Net.Sockets;
using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

/// <summary>
/// Builds, changes and removes one lab. Holds the lab's lock for its lifetime (one command at a
/// time per lab; several labs coexist) and writes <see cref="LabState"/> after every step, so a
/// half-built lab can be completed by <c>up</c> or removed by <c>down</c>.
/// </summary>
public sealed class LabRunner : IDisposable
{
    private readonly FileStream _lock;

    public LabPlan Plan { get; }
    public LabState? State { get; private set; }
    private readonly TextWriter _out;

    private LabRunner(LabPlan plan, FileStream lockStream, TextWriter output)
    {
        Plan = plan;
        _lock = lockStream;
        _out = output;
        State = LabState.Load(plan.StateFile);
    }

    /// <summary>Takes the lab's lock (waiting up to a minute for another weft command on the same lab).</summary>
    public static LabRunner Open(LabPlan plan, TextWriter output)
    {
        if (!Host.IsRoot)
            throw new CliException("weft lab needs root: it creates network namespaces", "run it as root, e.g. sudo bin/weft lab …", ExitCodes.Usage);
        Directory.CreateDirectory(LabPlan.RunRoot);
        var lockPath = plan.LockFile;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock. `down` deletes the file while holding it; a
                // waiter then holds a deleted inode, which it notices here and opens the path again.
                var fs = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                var target = File.ResolveLinkTarget($"/proc/self/fd/{fs.SafeFileHandle.DangerousGetHandle()}", false)?.FullName;
                if (target is null || target.EndsWith(" (deleted)", StringComparison.Ordinal))
                {
                    fs.Dispose();
                    continue;
                }
                return new LabRunner(plan, fs, output);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
            catch (IOException)
            {
                throw new CliException($"lab '{plan.Name}' is busy: another weft lab command holds {lockPath}", "wait for it to finish, then try again");
            }
        }
    }

    public LabState RequireUp()
    {
        if (State is null || State.Server is null || State.Cells.Count == 0)
            throw new CliException($"lab '{Plan.Name}' is not up", $"run: weft lab up{NameArg}");
        return State;
    }

    private string NameArg => Plan.Name == LabPlan.DefaultName ? "" : " --name " + Plan.Name;

    private void Save() => State?.Save(Plan.StateFile);

    // ------------------------------------------------------------------ up

    /// <summary>Creates whatever of the lab is missing; an existing, healthy lab is left as it is.</summary>
    public void Up(int cells, Progress progress, CancellationToken ct)
    {
        var fresh = State is null;
        try
        {
            UpSteps(cells, progress, ct);
        }
        catch (Exception e) when (fresh && e is not OutOfMemoryException)
        {
            _out.WriteLine(ct.IsCancellationRequested ? "interrupted: removing what was created" : $"failed ({e.GetType().Name}): removing what was created");
            try { Down(new Progress(_out, quiet: true)); } catch (CliException) { }
            if (ct.IsCancellationRequested) throw new CliException("interrupted: the lab was removed", null, 130);
            throw;
        }
    }

    private void UpSteps(int cells, Progress p, CancellationToken ct)
    {
        Directory.CreateDirectory(Plan.RunDir);
        Directory.CreateDirectory(Plan.LogDir);
        State ??= new LabState { Name = Plan.Name, RunDir = Plan.RunDir, FabricNetns = Plan.FabricNetns, CreatedAt = DateTimeOffset.UtcNow };
        Save();
        if (State.Cells.Count > cells)
        {
            p.Note($"  (lab '{Plan.Name}' has {State.Cells.Count} cells; keeping them)");
            cells = State.Cells.Count;
        }

        p.Step("fabric", $"{Plan.FabricNetns}, bridge {LabPlan.Bridge} ({LabPlan.UnderlayCidr})", () =>
        {
            LabNet.NetnsAdd(Plan.FabricNetns);
            LabNet.BridgeAdd(Plan.FabricNetns, LabPlan.Bridge);
        });
        ct.ThrowIfCancellationRequested();

        p.Step("control", $"{Plan.ControlNetns}, {LabPlan.Uplink} {LabPlan.ServerIp}", () =>
        {
            LabNet.NetnsAdd(Plan.ControlNetns);
            LabNet.Uplink(Plan.FabricNetns, LabPlan.Bridge, LabPlan.FabricPort(0), Plan.ControlNetns, LabPlan.Uplink, LabPlan.ServerIp, LabPlan.UnderlayPrefix);
        });
        ct.ThrowIfCancellationRequested();

        for (var k = 1; k <= cells; k++)
        {
            var cell = State.Cells.FirstOrDefault(c => c.Name == LabPlan.CellName(k));
            if (cell is null)
            {
                cell = new LabCell { Name = LabPlan.CellName(k), Netns = Plan.CellNetns(k), UnderlayIp = LabPlan.CellUnderlayIp(k), StateDir = Plan.CellStateDir(k) };
                State.Cells.Add(cell);
                Save();
            }
            var kk = k;
            p.Step(cell.Name, $"{cell.Netns}, {LabPlan.Uplink} {cell.UnderlayIp}", () =>
            {
                LabNet.NetnsAdd(cell.Netns);
                LabNet.Uplink(Plan.FabricNetns, LabPlan.Bridge, LabPlan.FabricPort(kk), cell.Netns, LabPlan.Uplink, cell.UnderlayIp, LabPlan.UnderlayPrefix);
                LabNet.Sysctl(cell.Netns, "net.ipv4.ip_forward", "1");
                Directory.CreateDirectory(cell.StateDir);
            });
            ct.ThrowIfCancellationRequested();
        }

        if (State.Server is null)
        {
            State.Server = p.Step("certs", $"weft-server init --dir {Plan.ServerDir}", () => Components.InitServer(Plan, State.Cells.Select(c => c.Name)));
            Save();
        }
        var server = State.Server;
        if (!Host.IsAlive(server.Process))
        {
            p.Step("server", $"weft-server in {server.Netns}, {server.Url}", () =>
            {
                server.Process = Host.Spawn(server.Netns, Host.Tool("weft-server"), Components.ServerArgs(server), Path.Combine(Plan.LogDir, "weft-server.log"));
                Save();
                WaitFor(() => ServerHealthy(server), TimeSpan.FromSeconds(20), ct,
                    () => Host.IsAlive(server.Process) ? null : "weft-server exited", Path.Combine(Plan.LogDir, "weft-server.log"), "weft-server to answer");
            });
        }
        ct.ThrowIfCancellationRequested();

        var starting = new List<LabCell>();
        foreach (var cell in State.Cells.Where(c => !Host.IsAlive(c.Agent)))
        {
            Components.EnsureAgentCert(server, cell.Name);
            cell.Agent = Host.Spawn(cell.Netns, Host.Tool("weft-agent"), Components.AgentArgs(server, cell), AgentLog(cell));
            starting.Add(cell);
        }
        Save();
        foreach (var cell in starting)
        {
            p.Step("agent", () =>
            {
                WaitFor(() => Components.LeaseSubnet(cell) is not null && Components.AgentReady(cell), TimeSpan.FromSeconds(30), ct,
                    () => Host.IsAlive(cell.Agent) ? null : "weft-agent exited", AgentLog(cell), $"{cell.Name}'s agent to get a lease");
                return $"weft-agent in {cell.Netns}, lease {Components.LeaseSubnet(cell)}";
            });
        }

        var config = ProfileStore.Load();
        config.Profiles[Plan.ProfileName] = ProfileFor(State);
        config.Current = Plan.ProfileName;
        ProfileStore.Save(config);
    }

    private string AgentLog(LabCell cell) => Path.Combine(Plan.LogDir, $"weft-agent-{cell.Name}.log");

    public static Profile ProfileFor(LabState state)
    {
        var s = state.Server ?? throw new CliException($"lab '{state.Name}' has no server");
        return new Profile { Server = s.Url, TokenFile = s.TokenFile, CaFile = s.CaFile, Netns = s.Netns, Lab = state.Name };
    }

    private static bool ServerHealthy(LabServer server)
    {
        try
        {
            using var s = NetnsSockets.Open(server.Netns, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var uri = new Uri(server.Url);
            s.Connect(new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port));
            return true;
        }
        catch (Exception e) when (e is SocketException or Weft.Linux.KernelException) { return false; }
    }

    private static void WaitFor(Func<bool> ready, TimeSpan timeout, CancellationToken ct, Func<string?> died, string log, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!ready())
        {
            ct.ThrowIfCancellationRequested();
            if (died() is { } why)
                throw new CliException($"{why} while waiting for {what}; its log {log} ends with:\n{Tail(log, 15)}", $"see the whole log: {log}");
            if (DateTime.UtcNow > deadline)
                throw new CliException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}; {log} ends with:\n{Tail(log, 15)}", $"see the whole log: {log}");
            Thread.Sleep(25);
        }
    }

    private static string Tail(string path, int lines)
    {
        try { return string.Join('\n', File.ReadAllLines(path).TakeLast(lines).Select(l => "    " + l)); }
        catch (IOException) { return "    (no log)"; }
    }

    // ------------------------------------------------------------------ down

    /// <summary>Stops the lab's processes (by recorded pid), deletes its namespaces, files and profile.</summary>
    public void Down(Progress p)
    {
        var st = State;
        if (st is not null)
        {
            // All at once: SIGTERM to every process the lab started, SIGKILL to those still there after the grace period.
            var serves = st.Apps.SelectMany(a => a.Instances).Select(i => i.Serve).Where(Host.IsAlive).ToList();
            var agents = st.Cells.Select(c => c.Agent).Where(Host.IsAlive).ToList();
            var server = new[] { st.Server?.Process }.Where(Host.IsAlive).ToList();
            p.Step("stop", $"{serves.Count} app processes, {agents.Count} weft-agent, {server.Count} weft-server (by pid)",
                () => Host.Stop([.. serves, .. agents, .. server], TimeSpan.FromSeconds(3)));
        }
        // Every namespace named weft-lab-NAME-* (lab names have no '-', so no other lab matches):
        // containers first, then cells, control and fabric.
        var all = LabNet.ListNetns(Plan.NetnsPrefix);
        var order = all.OrderBy(n => n == Plan.FabricNetns ? 3 : n == Plan.ControlNetns ? 2 : n.StartsWith(Plan.NetnsPrefix + "cell-", StringComparison.Ordinal) ? 1 : 0).ToList();
        p.Step("netns", $"{order.Count} namespaces {Plan.NetnsPrefix}*", () => { foreach (var n in order) LabNet.NetnsDelete(n); });
        p.Step("files", Plan.RunDir, () =>
        {
            if (Directory.Exists(Plan.RunDir)) Directory.Delete(Plan.RunDir, recursive: true);
            var config = ProfileStore.Load();
            if (config.Profiles.Remove(Plan.ProfileName))
            {
                if (config.Current == Plan.ProfileName) config.Current = null;
                ProfileStore.Save(config);
            }
        });
        State = null;
    }

    // ------------------------------------------------------------------ push

    /// <summary>
    /// Makes APP have <paramref name="instances"/> instances: new containers through weft-cni on the
    /// given cell (or spread over the least loaded cells), each running <c>weft lab serve</c>;
    /// extra instances (highest index first) are removed.
    /// </summary>
    public LabApp Push(string appName, int? cellNumber, int instances, int port, Progress p, CancellationToken ct)
    {
        var st = RequireUp();
        LabPlan.ValidateAppName(appName);
        if (cellNumber is { } cn && (cn < 1 || cn > st.Cells.Count))
            throw new CliException($"lab '{Plan.Name}' has no cell-{cn}", $"cells: {string.Join(", ", st.Cells.Select(c => c.Name))}", ExitCodes.Usage);
        var app = st.FindApp(appName);
        if (app is null)
        {
            app = new LabApp { Name = appName, Id = Guid.NewGuid().ToString(), Port = port };
            st.Apps.Add(app);
            Save();
        }
        // Replace instances whose process died; remove extra ones.
        foreach (var inst in app.Instances.Where(i => !Host.IsAlive(i.Serve) || !LabNet.NetnsExists(i.Netns)).ToList())
            Recreate(app, inst, p);
        foreach (var inst in app.Instances.OrderByDescending(i => i.Index).Take(Math.Max(0, app.Instances.Count - instances)).ToList())
            p.Step("remove", $"{app.Name}/{inst.Index} on {inst.Cell}", () => RemoveInstance(app, inst));

        var perCell = st.Cells.Select(c => app.Instances.Count(i => i.Cell == c.Name)).ToList();
        var missing = instances - app.Instances.Count;
        if (missing > 0)
        {
            var placement = LabPlan.PlaceInstances(missing, st.Cells.Count, cellNumber, perCell);
            foreach (var k in placement)
            {
                ct.ThrowIfCancellationRequested();
                var index = Enumerable.Range(0, int.MaxValue).First(i => app.Instances.All(x => x.Index != i));
                var cell = st.Cells[k - 1];
                var inst = new LabInstance { Index = index, Cell = cell.Name, Netns = Plan.ContainerNetns(app.Name, index), ContainerId = NewContainerId(app.Name, index) };
                app.Instances.Add(inst);
                app.Instances.Sort((a, b) => a.Index.CompareTo(b.Index));
                Save();
                p.Step("push", $"{app.Name}/{index} on {cell.Name}", () => StartInstance(app, inst));
            }
        }
        Save();
        return app;
    }

    private string NewContainerId(string app, int index) => $"{Plan.NetnsPrefix}{app}-{index}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Replaces an instance with a new container (new container id, same app, index and cell).</summary>
    public void Restart(string appName, int? index, Progress p)
    {
        var st = RequireUp();
        var app = st.FindApp(appName) ?? throw NoApp(appName);
        var targets = app.Instances.Where(i => index is null || i.Index == index).ToList();
        if (targets.Count == 0) throw new CliException($"{appName} has no instance {index}", $"instances: {string.Join(", ", app.Instances.Select(i => i.Index))}");
        foreach (var inst in targets) Recreate(app, inst, p);
    }

    private void Recreate(LabApp app, LabInstance inst, Progress p)
    {
        p.Step("restart", $"{app.Name}/{inst.Index} on {inst.Cell}", () =>
        {
            RemoveInstance(app, inst);
            var fresh = inst with { ContainerId = NewContainerId(app.Name, inst.Index), Ip = null, Serve = null };
            app.Instances.Add(fresh);
            app.Instances.Sort((a, b) => a.Index.CompareTo(b.Index));
            Save();
            StartInstance(app, fresh);
        });
    }

    private void StartInstance(LabApp app, LabInstance inst)
    {
        var cell = Cell(inst.Cell);
        LabNet.NetnsAdd(inst.Netns);
        var r = Components.Cni("ADD", cell, inst, Components.CniConfig(cell, app, inst.Index));
        if (!r.Ok)
            throw new CliException($"weft-cni ADD for {app.Name}/{inst.Index} failed (exit {r.ExitCode}): {(r.Stdout + r.Stderr).Trim()}",
                $"is {cell.Name}'s agent up with a lease? weft lab status{NameArg}");
        inst.Ip = Components.ParseCniIp(r.Stdout);
        Save();
        var exe = Environment.ProcessPath ?? throw new CliException("cannot find the weft executable");
        inst.Serve = Host.Spawn(inst.Netns, exe,
            ["lab", "serve", "--app", app.Name, "--index", inst.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), "--ip", inst.Ip, "--port", app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            Path.Combine(Plan.LogDir, $"{app.Name}-{inst.Index}.log"));
        Save();
        WaitFor(() => Listening(inst.Netns, app.Port), TimeSpan.FromSeconds(10), CancellationToken.None,
            () => Host.IsAlive(inst.Serve) ? null : "the app process exited", Path.Combine(Plan.LogDir, $"{app.Name}-{inst.Index}.log"), $"{app.Name}/{inst.Index} to listen");
    }

    private static bool Listening(string netns, int port)
    {
        try
        {
            using var s = NetnsSockets.Open(netns, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (Exception e) when (e is SocketException or Weft.Linux.KernelException) { return false; }
    }

    private void RemoveInstance(LabApp app, LabInstance inst)
    {
        Host.Stop([inst.Serve], TimeSpan.FromSeconds(2));
        var cell = Cell(inst.Cell);
        if (LabNet.NetnsExists(cell.Netns))
            Components.Cni("DEL", cell, inst, Components.CniConfig(cell, app, inst.Index)); // DEL is idempotent; a failure leaves a record the agent's GC removes
        LabNet.NetnsDelete(inst.Netns);
        app.Instances.Remove(inst);
        Save();
    }

    private LabCell Cell(string name) => RequireUp().Cells.First(c => c.Name == name);

    public CliException NoApp(string name)
        => new($"lab '{Plan.Name}' has no app '{name}'", State is { Apps.Count: > 0 } s ? $"apps: {string.Join(", ", s.Apps.Select(a => a.Name))}" : $"push one: weft lab push {name}{NameArg}");

    /// <summary>Instances selected by "APP" (all) or "APP/INDEX".</summary>
    public IReadOnlyList<(LabApp App, LabInstance Instance)> Select(string spec)
    {
        var st = RequireUp();
        var slash = spec.IndexOf('/');
        var name = slash < 0 ? spec : spec[..slash];
        var app = st.FindApp(name) ?? throw NoApp(name);
        if (slash < 0) return app.Instances.Select(i => (app, i)).ToList();
        if (!int.TryParse(spec[(slash + 1)..], out var index) || app.Instances.All(i => i.Index != index))
            throw new CliException($"{name} has no instance '{spec[(slash + 1)..]}'", $"instances: {string.Join(", ", app.Instances.Select(i => $"{name}/{i.Index}"))}", ExitCodes.Usage);
        return [(app, app.Instances.First(i => i.Index == index))];
    }

    public void Dispose()
    {
        // Removed while held when the lab is gone (see Open: waiters notice the deleted inode).
        if (State is null && !Directory.Exists(Plan.RunDir))
        {
            try { File.Delete(_lock.Name); } catch (IOException) { }
        }
        _lock.Dispose();
    }
}
