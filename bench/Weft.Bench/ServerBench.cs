using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;
using Weft.Contracts;
using Weft.Server;
using Weft.Server.Commands;
using Weft.Server.Hosting;
using Weft.Server.Security;
using Weft.Server.Storage;

namespace Weft.Bench;

/// <summary>
/// weft-bench server [--engine sqlite|postgres|both] [--policies 60000] [--apps 20000] [--clients 100] [--seconds 5] [--ids-per-read 5]
///
/// Loads CF's validated scale (60,000 policies among 20,000 apps) through the external API, then
/// measures: list all (first after the bulk load, first after one more write, cached), list by
/// id, create of one policy (p50/p99), internal reads with 100 concurrent mTLS clients (after a
/// warm-up until the JIT has settled), a full snapshot, and watch wake-up latency from the commit
/// (split into the server's handler part and the rest). Prints each figure with its target and a
/// reference measured in the same run: the store's own full load, GET /health on the same
/// connections, 100 ready watch answers asked at once. See docs/server.md.
/// </summary>
public static class ServerBench
{
    public static int Run(string[] args)
    {
        var a = args.ToList();
        string Opt(string name, string def) { var i = a.IndexOf(name); return i >= 0 && i + 1 < a.Count ? a[i + 1] : def; }
        var engine = Opt("--engine", "both");
        var policies = int.Parse(Opt("--policies", "60000"));
        var apps = int.Parse(Opt("--apps", "20000"));
        var clients = int.Parse(Opt("--clients", "100"));
        var seconds = double.Parse(Opt("--seconds", "5"), System.Globalization.CultureInfo.InvariantCulture);
        var idsPerRead = int.Parse(Opt("--ids-per-read", "5"));
        Console.WriteLine($"weft-bench server: {policies} policies among {apps} apps, {clients} concurrent internal clients, {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        var failed = false;
        if (engine is "sqlite" or "both") failed |= !RunEngineAsync(null, policies, apps, clients, seconds, idsPerRead).GetAwaiter().GetResult();
        if (engine is "postgres" or "both")
        {
            using var pg = PgCluster.TryStart(out var why);
            if (pg is null) Console.WriteLine($"postgres: skipped ({why})");
            else failed |= !RunEngineAsync(pg.CreateDatabase(), policies, apps, clients, seconds, idsPerRead).GetAwaiter().GetResult();
        }
        return failed ? 1 : 0;
    }

    private static async Task<bool> RunEngineAsync(string? postgres, int policyCount, int appCount, int clients, double seconds, int idsPerRead)
    {
        var name = postgres is null ? "sqlite" : "postgres";
        Console.WriteLine($"\n== {name} ==");
        var dir = Directory.CreateTempSubdirectory("weft-bench-server-").FullName;
        try
        {
            InitCommand.Run(new InitCommand.InitOptions { Dir = dir, AgentNames = ["cell-1"] }, TextWriter.Null);
            var o = ServerOptions.Load(Path.Combine(dir, InitCommand.ConfigFileName)) with
            {
                ExternalAddress = "127.0.0.1", ExternalPort = 0, InternalAddress = "127.0.0.1", InternalPort = 0,
                DatabaseEngine = postgres is null ? DbEngine.Sqlite : DbEngine.Postgres, PostgresConnectionString = postgres,
                PolicyCleanupIntervalMinutes = 0,
            };
            await using var host = await WeftServerHost.StartAsync(o, l => l.SetMinimumLevel(LogLevel.Warning));
            var token = File.ReadAllText(Path.Combine(dir, "admin.token")).Trim();
            using var ext = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = host.ExternalUri, Timeout = TimeSpan.FromMinutes(5) };
            ext.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + token);

            // ---- load
            var rnd = new Random(42);
            var all = new List<(string S, string D, int Port)>(policyCount);
            var seen = new HashSet<(int, int, int)>();
            while (all.Count < policyCount)
            {
                var s = rnd.Next(appCount);
                var d = rnd.Next(appCount);
                var port = 8080 + rnd.Next(4);
                if (seen.Add((s, d, port))) all.Add((AppId(s), AppId(d), port));
            }
            var sw = Stopwatch.StartNew();
            const int batchSize = 1000;
            for (var i = 0; i < all.Count; i += batchSize)
            {
                var body = Batch(all.Skip(i).Take(batchSize));
                using var r = await ext.PostAsync("/networking/v1/external/policies", new StringContent(body));
                if (r.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"load failed: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            }
            Console.WriteLine($"load {policyCount} policies ({policyCount / batchSize} batches of {batchSize}): {sw.Elapsed.TotalSeconds:F1} s ({policyCount / sw.Elapsed.TotalSeconds:F0} policies/s)");

            // ---- reference: the store's own full read (one query, no HTTP, no JSON)
            var reference = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                var t = Stopwatch.StartNew();
                var snap = await host.Store.LoadPoliciesAsync();
                reference.Add(t.Elapsed.TotalMilliseconds);
                if (snap.Rows.Length != policyCount) throw new InvalidOperationException($"expected {policyCount} rows, got {snap.Rows.Length}");
            }
            var refMs = reference.Min();

            // ---- list all: first after the bulk load (the view folds in the whole load and serialises
            // every row), first after one more write (steady state: only the new row is serialised, the
            // response is the rows' cached fragments concatenated), and cached (same view).
            await ext.PostAsync("/networking/v1/external/policies", new StringContent(Batch([("bench-x", "bench-y", 9000)])));
            sw.Restart();
            var listBody = await ext.GetByteArrayAsync("/networking/v1/external/policies");
            var cold = sw.Elapsed.TotalMilliseconds;
            await ext.PostAsync("/networking/v1/external/policies", new StringContent(Batch([("bench-x", "bench-z", 9000)])));
            sw.Restart();
            listBody = await ext.GetByteArrayAsync("/networking/v1/external/policies");
            var afterWrite = sw.Elapsed.TotalMilliseconds;
            var total = JsonDocument.Parse(listBody).RootElement.GetProperty("total_policies").GetInt32();
            if (total != policyCount + 2) throw new InvalidOperationException($"list returned {total}");
            var warm = await TimeManyAsync(20, async _ => { await ext.GetByteArrayAsync("/networking/v1/external/policies"); });
            Console.WriteLine($"list all ({total} policies, {listBody.Length / 1e6:F1} MB): first after a write {afterWrite:F0} ms, cached p50 {P(warm, 50):F0} ms p99 {P(warm, 99):F0} ms, first after the bulk load {cold:F0} ms"
                + $"  [target < 500 ms: {Verdict(afterWrite < 500)}; reference store load {refMs:F0} ms, ratio {afterWrite / refMs:F2}x]");

            // ---- list by id
            var byId = await TimeManyAsync(500, async i => { await ext.GetByteArrayAsync($"/networking/v1/external/policies?id={AppId(rnd.Next(appCount))}"); });
            Console.WriteLine($"list by id (500 requests): p50 {P(byId, 50):F2} ms p99 {P(byId, 99):F2} ms");

            // ---- create one policy
            var creates = await TimeManyAsync(300, async i =>
            {
                using var r = await ext.PostAsync("/networking/v1/external/policies", new StringContent(Batch([($"new-src-{i}", AppId(i), 7000)])));
                if (r.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException("create failed");
            });
            Console.WriteLine($"create one policy (300 sequential): p50 {P(creates, 50):F2} ms p99 {P(creates, 99):F2} ms");

            // ---- internal reads, 100 concurrent mTLS clients (agent-like: the policies of 5 local apps)
            using var intl = MtlsClient(dir, host.InternalUri, clients);
            await intl.GetByteArrayAsync($"/networking/v1/internal/policies?id={AppId(1)}"); // warm view after the creates
            // Agents keep their connections: open all of them (TLS handshakes) before measuring.
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => intl.GetByteArrayAsync($"/networking/v1/internal/policies?id={AppId(2)}")));
            // Request paths made up front, so that the clients' loop costs only the HTTP exchange.
            var paths = Enumerable.Range(0, 8192).Select(i =>
            {
                var r = new Random(i);
                return new Uri($"/networking/v1/internal/policies?id={string.Join(",", Enumerable.Range(0, idsPerRead).Select(_ => AppId(r.Next(appCount))))}", UriKind.Relative);
            }).ToArray();
            var health = new Uri("/health", UriKind.Relative);
            // Warm-up, not measured: a server that runs for hours has its hot paths at the JIT's last
            // tier; a fresh process recompiles them during its first seconds (perf showed 10-15% of
            // the CPU in the JIT during a 5 s measurement right after start on this loaded machine).
            var warmup = Stopwatch.StartNew();
            for (var i = 0; i < 20; i++)
            {
                var before = System.Runtime.JitInfo.GetCompiledMethodCount();
                await ClientLoopAsync(intl, clients, 1, j => paths[j % paths.Length], true);
                await ClientLoopAsync(intl, clients, 0.5, _ => health, false);
                if (i >= 2 && System.Runtime.JitInfo.GetCompiledMethodCount() - before < 10) break; // the JIT has settled
            }
            Console.WriteLine($"warm-up until the JIT settled: {warmup.Elapsed.TotalSeconds:F0} s");
            var (rate, latList) = await ClientLoopAsync(intl, clients, seconds, i => paths[i % paths.Length], true);
            // Reference, same clients and connections: GET /health (SELECT 1): the ceiling of mTLS + HTTP on this machine now.
            var (refRate, _) = await ClientLoopAsync(intl, clients, seconds, _ => health, false);
            Console.WriteLine($"internal reads (policies?id={idsPerRead} random apps, {clients} concurrent mTLS clients, {seconds:F0} s): {rate:F0} req/s, p50 {P(latList, 50):F1} ms p99 {P(latList, 99):F1} ms"
                + $"  [target >= 2000/s: {Verdict(rate >= 2000)}, {rate / 2000:F2}x; reference GET /health on the same connections {refRate:F0} req/s, ratio {rate / refRate:F2}]");

            // ---- snapshot (full agent resync)
            var snapshots = await TimeManyAsync(5, async _ => { await intl.GetByteArrayAsync("/weft/v1/snapshot"); });
            Console.WriteLine($"snapshot (all {total + 300} policies with tags): p50 {P(snapshots, 50):F0} ms");

            // (PostgreSQL: the LISTEN notification can wake watchers before the committing connection
            // has its COMMIT reply and raises Committed, so parts can be negative there; "from sending
            // the write" bounds the wake-up from above, the write's own HTTP and SQL included.)
            // ---- watch wake-up: W watchers waiting; a policy commit; time from the commit until each
            // watcher has its answer, split into the server's part (the commit until the handler has
            // handed the answer to Kestrel, from ASP.NET Core's EndRequest diagnostic event) and the rest (the
            // answer's TLS and socket write, then the client: TLS, HTTP parsing, continuations, in this
            // same process on the same 2 cores).
            const int watchers = 100, rounds = 30;
            var fromCommit = new List<double>();
            var serverDone = new List<double>();
            var fromAck = new List<double>();
            var fromSend = new List<double>();
            using var watchClient = MtlsClient(dir, host.InternalUri, watchers + 4);
            await Task.WhenAll(Enumerable.Range(0, watchers).Select(_ => watchClient.GetStringAsync("/weft/v1/watch?since=0&timeout=0s")));
            long committedAt = 0;
            void OnCommit(StoreCommit _) => Interlocked.CompareExchange(ref committedAt, Stopwatch.GetTimestamp(), 0);
            var ends = new ConcurrentQueue<long>();
            using var endRequests = EndRequestObserver.Subscribe("/weft/v1/watch", "timeout=30s", ends);
            host.Store.Committed += OnCommit;
            var roundMax = new List<double>();
            var gcPause = TimeSpan.Zero;
            var gcCounts = (0, 0, 0);
            // Warm-up rounds (not measured) until the JIT has settled, as for the reads.
            var warmRounds = 0;
            var jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
            try
            {
                var warming = true;
                for (var round = 0; round < rounds;)
                {
                    var rev = JsonDocument.Parse(await watchClient.GetStringAsync("/weft/v1/watch?since=0&timeout=0s")).RootElement.GetProperty("revision").GetInt64();
                    var arrivals = new long[watchers];
                    var ws = Enumerable.Range(0, watchers).Select(i => Task.Run(async () =>
                    {
                        await watchClient.GetStringAsync($"/weft/v1/watch?since={rev}&timeout=30s&kinds=policies");
                        arrivals[i] = Stopwatch.GetTimestamp();
                    })).ToArray();
                    while (host.Store.Notifier.Waiters < watchers) await Task.Delay(1);
                    await Task.Delay(20);
                    ends.Clear();
                    Interlocked.Exchange(ref committedAt, 0);
                    var sent = Stopwatch.GetTimestamp();
                    using (var r = await ext.PostAsync("/networking/v1/external/policies", new StringContent(Batch([($"watch-{round}-{warmRounds}", "watch-sink", 80)]))))
                        if (r.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException("create failed");
                    var acked = Stopwatch.GetTimestamp();
                    await Task.WhenAll(ws);
                    var commit = Interlocked.Read(ref committedAt);
                    if (warming)
                    {
                        if (++warmRounds % 10 == 0)
                        {
                            var jitNow = System.Runtime.JitInfo.GetCompiledMethodCount();
                            if (jitNow - jitBefore < 10 || warmRounds >= 500)
                            {
                                warming = false;
                                gcPause = GC.GetTotalPauseDuration();
                                gcCounts = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
                            }
                            jitBefore = jitNow;
                        }
                        continue;
                    }
                    round++;
                    roundMax.Add((arrivals.Max() - commit) * 1000.0 / Stopwatch.Frequency);
                    foreach (var t in arrivals)
                    {
                        fromCommit.Add((t - commit) * 1000.0 / Stopwatch.Frequency);
                        fromAck.Add(Math.Max(0, (t - acked) * 1000.0 / Stopwatch.Frequency));
                        fromSend.Add((t - sent) * 1000.0 / Stopwatch.Frequency);
                    }
                    serverDone.AddRange(ends.Select(t => (t - commit) * 1000.0 / Stopwatch.Frequency));
                }
            }
            finally
            {
                host.Store.Committed -= OnCommit;
            }
            gcPause = GC.GetTotalPauseDuration() - gcPause;
            // Reference: the same 100 connections asking at once for an answer that is ready (since=0):
            // the cost of 100 responses on this machine, without any waiting or waking (after the rounds: same JIT state).
            var floor = new List<double>();
            for (var round = 0; round < 10; round++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var done = await Task.WhenAll(Enumerable.Range(0, watchers).Select(_ => Task.Run(async () =>
                {
                    await watchClient.GetStringAsync("/weft/v1/watch?since=0&timeout=0s");
                    return Stopwatch.GetTimestamp();
                })));
                if (round >= 2) floor.AddRange(done.Select(t => (t - t0) * 1000.0 / Stopwatch.Frequency));
            }
            var gcs = $"gen0 {GC.CollectionCount(0) - gcCounts.Item1}, gen1 {GC.CollectionCount(1) - gcCounts.Item2}, gen2 {GC.CollectionCount(2) - gcCounts.Item3}";
            var serverPart = serverDone.Count > 0 ? $"server handler done p50 {P(serverDone, 50):F2} ms p99 {P(serverDone, 99):F2} ms ({serverDone.Count} answers)" : "server part not observed";
            Console.WriteLine($"watch wake-up ({watchers} watchers x {rounds} commits): from the commit to the watcher p50 {P(fromCommit, 50):F2} ms p99 {P(fromCommit, 99):F2} ms"
                + $" ({serverPart}); after the write's 200 p50 {P(fromAck, 50):F2} ms p99 {P(fromAck, 99):F2} ms; from sending the write p50 {P(fromSend, 50):F2} ms p99 {P(fromSend, 99):F2} ms"
                + $"  [target p99 < 10 ms: {Verdict(P(fromCommit, 99) < 10)}; reference: {watchers} ready answers asked at once p50 {P(floor, 50):F2} ms p99 {P(floor, 99):F2} ms]");
            Console.WriteLine($"  watch rounds ({warmRounds} warm-up rounds first): last watcher answered after p50 {P(roundMax, 50):F2} ms, max {roundMax.Max():F2} ms; GC pauses in this process during the rounds {gcPause.TotalMilliseconds:F1} ms ({gcs})");
            return true;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, true); } catch { }
        }
    }

    /// <summary>Runs <paramref name="clients"/> loops of GETs for <paramref name="seconds"/>; returns requests/s and latencies (ms).</summary>
    private static async Task<(double Rate, List<double> Latencies)> ClientLoopAsync(HttpClient client, int clients, double seconds, Func<int, Uri> path, bool needBody)
    {
        var count = 0L;
        var lat = new List<double>[clients];
        var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = lat[c] = new List<double>(4096);
            var i = c * 997;
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var t = Stopwatch.GetTimestamp();
                using (var r = await client.GetAsync(path(i++), HttpCompletionOption.ResponseContentRead))
                {
                    if (r.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"{(int)r.StatusCode}");
                    if (needBody && r.Content.Headers.ContentLength < 10) throw new InvalidOperationException("empty response");
                }
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                Interlocked.Increment(ref count);
            }
        })));
        return (count / sw.Elapsed.TotalSeconds, lat.SelectMany(l => l).ToList());
    }

    /// <summary>Records when ASP.NET Core finished each request whose path and query match (EndRequest diagnostic event).</summary>
    private sealed class EndRequestObserver(string path, string query, ConcurrentQueue<long> ends) : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        private readonly List<IDisposable> _subscriptions = [];

        public static IDisposable Subscribe(string path, string query, ConcurrentQueue<long> ends)
        {
            var o = new EndRequestObserver(path, query, ends);
            var all = DiagnosticListener.AllListeners.Subscribe(o);
            return new Unsubscriber(() => { all.Dispose(); lock (o._subscriptions) o._subscriptions.ForEach(x => x.Dispose()); });
        }

        public void OnNext(DiagnosticListener listener)
        {
            if (listener.Name != "Microsoft.AspNetCore") return;
            var sub = listener.Subscribe(this, (name, _, _) => name == "Microsoft.AspNetCore.Hosting.EndRequest");
            lock (_subscriptions) _subscriptions.Add(sub);
        }

        public void OnNext(KeyValuePair<string, object?> e)
        {
            var now = Stopwatch.GetTimestamp();
            if (e.Key != "Microsoft.AspNetCore.Hosting.EndRequest" || e.Value is null) return;
            var prop = e.Value.GetType().GetProperty("httpContext", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
            if (prop?.GetValue(e.Value) is Microsoft.AspNetCore.Http.HttpContext ctx && ctx.Request.Path == path && ctx.Request.QueryString.Value?.Contains(query) == true)
                ends.Enqueue(now);
        }

        public void OnCompleted() { }
        public void OnError(Exception error) { }

        private sealed class Unsubscriber(Action dispose) : IDisposable
        {
            public void Dispose() => dispose();
        }
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private static string Verdict(bool ok) => ok ? "met" : "MISSED";

    private static string AppId(int i) => $"{i:x8}-4f1e-4c4b-9d3e-{i:x12}";

    private static string Batch(IEnumerable<(string S, string D, int Port)> items)
    {
        var sb = new StringBuilder("{\"policies\":[");
        var first = true;
        foreach (var (s, d, port) in items)
        {
            if (!first) sb.Append(',');
            first = false;
            sb.Append("{\"source\":{\"id\":\"").Append(s).Append("\"},\"destination\":{\"id\":\"").Append(d)
              .Append("\",\"protocol\":\"tcp\",\"ports\":{\"start\":").Append(port).Append(",\"end\":").Append(port).Append("}}}");
        }
        return sb.Append("]}").ToString();
    }

    private static async Task<List<double>> TimeManyAsync(int n, Func<int, Task> op)
    {
        var list = new List<double>(n);
        for (var i = 0; i < n; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await op(i);
            list.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        return list;
    }

    private static double P(List<double> xs, double p)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.Order().ToList();
        return s[Math.Min(s.Count - 1, (int)Math.Ceiling(p / 100 * s.Count) - 1)];
    }

    private static HttpClient MtlsClient(string dir, Uri baseAddress, int connections)
    {
        var ca = Certificates.LoadCertificate(Path.Combine(dir, "ca.crt"));
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            SslOptions = Certificates.InternalClientOptions(
                Certificates.LoadPem(Path.Combine(dir, "agents", "cell-1.crt"), Path.Combine(dir, "agents", "cell-1.key")), ca),
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    /// <summary>A throwaway PostgreSQL cluster on loopback (initdb as user postgres in a temp directory).</summary>
    private sealed class PgCluster : IDisposable
    {
        private readonly string _dir, _bin;
        private readonly int _port;

        private PgCluster(string dir, string bin, int port) { _dir = dir; _bin = bin; _port = port; }

        public static PgCluster? TryStart(out string? why)
        {
            why = null;
            var bin = Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderDescending().FirstOrDefault()
                : null;
            if (bin is null) { why = "PostgreSQL not installed"; return null; }
            var dir = Directory.CreateTempSubdirectory("weft-bench-pg-").FullName;
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var c = new PgCluster(dir, bin, port);
            try
            {
                Run("chown", "-R", "postgres:postgres", dir);
                c.Pg("initdb", "-D", Path.Combine(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync");
                // Durable settings (fsync on), as a production server would run.
                c.Pg("pg_ctl", "-D", Path.Combine(dir, "data"), "-l", Path.Combine(dir, "log"), "-w", "-o",
                    $"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB", "start");
                return c;
            }
            catch (Exception e)
            {
                why = e.Message;
                c.Dispose();
                return null;
            }
        }

        public string CreateDatabase()
        {
            using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres;Pooling=false");
            conn.Open();
            using var cmd = new NpgsqlCommand("CREATE DATABASE weft_bench", conn);
            cmd.ExecuteNonQuery();
            return $"Host=127.0.0.1;Port={_port};Username=postgres;Database=weft_bench";
        }

        private void Pg(string tool, params string[] args) => Run("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args]);

        private static void Run(string exe, params string[] args)
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)}: {err.Result}");
        }

        public void Dispose()
        {
            NpgsqlConnection.ClearAllPools();
            try { Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"); } catch { }
            try { Directory.Delete(_dir, true); } catch { }
        }
    }
}
