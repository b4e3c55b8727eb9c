using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;
using Weft.Contracts;
using Weft.Server.Leases;
using Weft.Server.Policies;

namespace Weft.Server.Storage;

/// <summary>Settings the store needs besides the connection.</summary>
public sealed record StoreSettings(LeasePool Pool, TimeSpan LeaseExpiry, int TagLength = 2)
{
    public int TagCapacity => (1 << (8 * TagLength)) - 1;
}

/// <summary>
/// <see cref="IStore"/> over ADO.NET with two engines sharing the SQL: SQLite (one file, WAL,
/// one writer connection guarded by an in-process lock) and PostgreSQL (writes serialised across
/// replicas by a transaction-scoped advisory lock; commits announced with NOTIFY and received
/// with LISTEN, so every replica's watchers wake).
/// </summary>
public sealed partial class SqlStore : IStore
{
    private const string NotifyChannel = "weft_changes";
    private const long WriteLockKey = 0x77656674; // "weft"

    private readonly string _connectionString;
    private readonly StoreSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _sqliteWriteLock = new(1, 1);
    private SqliteConnection? _sqliteWriter;
    private readonly CancellationTokenSource _stop = new();
    private Task? _listener;
    private bool _listenHealthy;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DbEngine Engine { get; }
    public ChangeNotifier Notifier { get; } = new();
    public event Action<StoreCommit>? Committed;

    /// <summary>Policy rows added and keys removed by the running write (collected for <see cref="Committed"/>).</summary>
    private sealed class Delta
    {
        public readonly List<PolicyRow> Added = [];
        public readonly List<PolicyKey> Removed = [];
    }

    private readonly AsyncLocal<Delta?> _delta = new();

    private SqlStore(DbEngine engine, string connectionString, StoreSettings settings, TimeProvider? time, ILogger? log)
    {
        Engine = engine;
        _connectionString = connectionString;
        _settings = settings;
        _time = time ?? TimeProvider.System;
        _log = log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>An SQLite store in one file (created if missing).</summary>
    public static SqlStore Sqlite(string path, StoreSettings settings, TimeProvider? time = null, ILogger? log = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        return new SqlStore(DbEngine.Sqlite, cs, settings, time, log);
    }

    /// <summary>A PostgreSQL store (the database must exist).</summary>
    public static SqlStore Postgres(string connectionString, StoreSettings settings, TimeProvider? time = null, ILogger? log = null)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        if (b.MaxAutoPrepare == 0) { b.MaxAutoPrepare = 64; b.AutoPrepareMinUsages = 2; }
        if (b.MaxPoolSize == 100) b.MaxPoolSize = 50;
        return new SqlStore(DbEngine.Postgres, b.ToString(), settings, time, log);
    }

    private long NowUnix => _time.GetUtcNow().ToUnixTimeSeconds();

    // ---------------------------------------------------------------- connections and transactions

    private async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        DbConnection c = Engine == DbEngine.Sqlite ? new SqliteConnection(_connectionString) : new NpgsqlConnection(_connectionString);
        await c.OpenAsync(ct).ConfigureAwait(false);
        return c;
    }

    /// <summary>A transaction with a per-transaction command cache (statements are prepared once per batch).</summary>
    private sealed class Tx(DbConnection conn, DbTransaction tx, bool ownsConnection) : IAsyncDisposable
    {
        private readonly Dictionary<string, DbCommand> _commands = new(StringComparer.Ordinal);
        public DbConnection Connection => conn;
        public DbTransaction Transaction => tx;

        public DbCommand Command(string sql, params (string Name, object? Value)[] args)
        {
            if (!_commands.TryGetValue(sql, out var c))
            {
                c = conn.CreateCommand();
                c.Transaction = tx;
                c.CommandText = sql;
                _commands[sql] = c;
            }
            // Reuse the parameter objects: Npgsql's auto-prepared statements keep them (replacing
            // them makes a prepared statement run with stale values).
            if (c.Parameters.Count == args.Length)
            {
                for (var i = 0; i < args.Length; i++) c.Parameters[i].Value = args[i].Value ?? DBNull.Value;
                return c;
            }
            c.Parameters.Clear();
            foreach (var (name, value) in args)
            {
                var p = c.CreateParameter();
                p.ParameterName = name;
                p.Value = value ?? DBNull.Value;
                c.Parameters.Add(p);
            }
            return c;
        }

        public async Task<int> ExecAsync(string sql, params (string, object?)[] args) =>
            await Command(sql, args).ExecuteNonQueryAsync().ConfigureAwait(false);

        public async Task<long?> LongAsync(string sql, params (string, object?)[] args)
        {
            var v = await Command(sql, args).ExecuteScalarAsync().ConfigureAwait(false);
            return v is null or DBNull ? null : Convert.ToInt64(v);
        }

        public async Task<DbDataReader> ReadAsync(string sql, params (string, object?)[] args) =>
            await Command(sql, args).ExecuteReaderAsync().ConfigureAwait(false);

        public async ValueTask DisposeAsync()
        {
            foreach (var c in _commands.Values) await c.DisposeAsync().ConfigureAwait(false);
            await tx.DisposeAsync().ConfigureAwait(false);
            if (ownsConnection) await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> in a write transaction, bumps the revision (and the revision of
    /// every kind the body changed), commits, and publishes the new revisions.
    /// </summary>
    private async Task<(T Result, Revisions Revisions)> WriteAsync<T>(Func<Tx, Task<(T, Changes)>> body, CancellationToken ct)
    {
        if (Engine == DbEngine.Sqlite)
        {
            await _sqliteWriteLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var conn = _sqliteWriter ?? throw new InvalidOperationException("store not initialised");
                var tx = conn.BeginTransaction(deferred: false);
                await using var t = new Tx(conn, tx, ownsConnection: false);
                var delta = new Delta();
                var (result, revs) = await RunWriteAsync(t, body, delta).ConfigureAwait(false);
                Announce(revs, delta);
                return (result, revs);
            }
            finally
            {
                _sqliteWriteLock.Release();
            }
        }
        else
        {
            var conn = await OpenAsync(ct).ConfigureAwait(false);
            var tx = await conn.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);
            await using var t = new Tx(conn, tx, ownsConnection: true);
            await t.ExecAsync("SELECT pg_advisory_xact_lock(@k)", ("k", WriteLockKey)).ConfigureAwait(false);
            var delta = new Delta();
            var (result, revs) = await RunWriteAsync(t, body, delta).ConfigureAwait(false);
            Announce(revs, delta);
            return (result, revs);
        }
    }

    private void Announce(Revisions revs, Delta delta)
    {
        Notifier.Publish(revs);
        try { Committed?.Invoke(new StoreCommit(revs.Revision - 1, revs, delta.Added, delta.Removed)); }
        catch (Exception e) { LogCommitHandlerFailed(e); }
    }

    private async Task<(T, Revisions)> RunWriteAsync<T>(Tx t, Func<Tx, Task<(T, Changes)>> body, Delta delta)
    {
        _delta.Value = delta;
        try
        {
            var (result, changes) = await body(t).ConfigureAwait(false);
            var nowNanos = (_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
            Revisions revs;
            await using (var r = await t.ReadAsync("""
                UPDATE weft_meta SET revision = revision + 1,
                  policies_rev = CASE WHEN @pol = 1 THEN revision + 1 ELSE policies_rev END,
                  leases_rev = CASE WHEN @lea = 1 THEN revision + 1 ELSE leases_rev END,
                  registry_rev = CASE WHEN @reg = 1 THEN revision + 1 ELSE registry_rev END,
                  policies_last_updated = CASE WHEN @touch = 0 THEN policies_last_updated
                    WHEN @now > policies_last_updated THEN @now ELSE policies_last_updated + 1 END
                WHERE id = 1
                RETURNING revision, policies_rev, leases_rev, registry_rev, policies_last_updated
                """,
                ("pol", changes.HasFlag(Changes.Policies) ? 1 : 0),
                ("lea", changes.HasFlag(Changes.Leases) ? 1 : 0),
                ("reg", changes.HasFlag(Changes.Registry) ? 1 : 0),
                ("touch", changes.HasFlag(Changes.PolicyTouch) || changes.HasFlag(Changes.Policies) ? 1 : 0),
                ("now", nowNanos)).ConfigureAwait(false))
            {
                if (!await r.ReadAsync().ConfigureAwait(false)) throw new InvalidOperationException("weft_meta row missing");
                revs = new Revisions(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
            }
            if (Engine == DbEngine.Postgres)
                await t.ExecAsync("SELECT pg_notify(@c, @p)", ("c", NotifyChannel), ("p", revs.Encode())).ConfigureAwait(false);
            await t.Transaction.CommitAsync().ConfigureAwait(false);
            return (result, revs);
        }
        catch
        {
            try { await t.Transaction.RollbackAsync().ConfigureAwait(false); } catch { /* connection gone: nothing to roll back */ }
            throw;
        }
        finally
        {
            _delta.Value = null;
        }
    }

    /// <summary>A consistent read: a deferred SQLite transaction (WAL snapshot) or a PostgreSQL repeatable-read one.</summary>
    private async Task<T> ReadAsync<T>(Func<Tx, Task<T>> body, CancellationToken ct)
    {
        var conn = await OpenAsync(ct).ConfigureAwait(false);
        DbTransaction tx = conn is SqliteConnection s
            ? s.BeginTransaction(deferred: true)
            : await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        await using var t = new Tx(conn, tx, ownsConnection: true);
        var result = await body(t).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    private static async Task<Revisions> ReadMetaAsync(Tx t)
    {
        await using var r = await t.ReadAsync(
            "SELECT revision, policies_rev, leases_rev, registry_rev, policies_last_updated FROM weft_meta WHERE id = 1").ConfigureAwait(false);
        if (!await r.ReadAsync().ConfigureAwait(false)) throw new InvalidOperationException("weft_meta row missing");
        return new Revisions(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
    }

    // ---------------------------------------------------------------- lifecycle

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        if (Engine == DbEngine.Sqlite)
        {
            _sqliteWriter = new SqliteConnection(_connectionString);
            await _sqliteWriter.OpenAsync(ct).ConfigureAwait(false);
            await using (var c = _sqliteWriter.CreateCommand())
            {
                // WAL: readers never block the writer; NORMAL sync is durable across process crashes (kill -9).
                c.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
                await c.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await MigrateAsync(_sqliteWriter, ct).ConfigureAwait(false);
        }
        else
        {
            await using (var conn = await OpenAsync(ct).ConfigureAwait(false))
                await MigrateAsync(conn, ct).ConfigureAwait(false);
        }

        Notifier.Publish(await ReadAsync(ReadMetaAsync, ct).ConfigureAwait(false));

        if (Engine == DbEngine.Postgres)
        {
            _listener = Task.Run(() => ListenAsync(_stop.Token), CancellationToken.None);
            await _listening.Task.WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        }
    }

    private async Task MigrateAsync(DbConnection conn, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using var t = new Tx(conn, tx, ownsConnection: false);
        if (Engine == DbEngine.Postgres)
            await t.ExecAsync("SELECT pg_advisory_xact_lock(@k)", ("k", WriteLockKey)).ConfigureAwait(false);
        await t.ExecAsync(Schema.MigrationsTable).ConfigureAwait(false);
        var applied = new HashSet<long>();
        await using (var r = await t.ReadAsync("SELECT version FROM weft_migrations").ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false)) applied.Add(Convert.ToInt64(r.GetValue(0)));
        foreach (var (version, name, statements) in Schema.Migrations)
        {
            if (applied.Contains(version)) continue;
            foreach (var sql in statements) await t.ExecAsync(Schema.Render(sql, Engine)).ConfigureAwait(false);
            await t.ExecAsync("INSERT INTO weft_migrations (version, name, applied_at) VALUES (@v, @n, @t)",
                ("v", version), ("n", name), ("t", NowUnix)).ConfigureAwait(false);
            LogMigration(version, name);
        }
        // CF's tag populator: every tag as a free row, once.
        if ((await t.LongAsync("SELECT COUNT(*) FROM app_groups").ConfigureAwait(false) ?? 0) == 0)
        {
            await t.ExecAsync("""
                WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < @n)
                INSERT INTO app_groups (id) SELECT x FROM seq
                """, ("n", _settings.TagCapacity)).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var b = new NpgsqlConnectionStringBuilder(_connectionString) { KeepAlive = 15, Pooling = false };
                await using var conn = new NpgsqlConnection(b.ToString());
                await conn.OpenAsync(ct).ConfigureAwait(false);
                conn.Notification += (_, e) =>
                {
                    if (Revisions.TryDecode(e.Payload, out var r)) Notifier.Publish(r);
                };
                await using (var cmd = new NpgsqlCommand($"LISTEN {NotifyChannel}", conn))
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                // Catch up on anything committed while not listening.
                Notifier.Publish(await ReadRevisionsFromDatabaseAsync(ct).ConfigureAwait(false));
                Volatile.Write(ref _listenHealthy, true);
                _listening.TrySetResult();
                while (true)
                {
                    if (await conn.WaitAsync(ListenCheckInterval, ct).ConfigureAwait(false)) continue;
                    // Quiet for a second: check the committed revision on this very connection. A
                    // dead connection fails here (and reads fall back to the database); a missed
                    // notification is caught up.
                    await using var check = new NpgsqlCommand(MetaQuery, conn) { CommandTimeout = 5 };
                    await using var r = await check.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    if (!await r.ReadAsync(ct).ConfigureAwait(false)) throw new InvalidOperationException("weft_meta row missing");
                    var revs = new Revisions(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
                    if (revs.Revision > Notifier.Current.Revision) LogMissedNotification(Notifier.Current.Revision, revs.Revision);
                    Notifier.Publish(revs);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Volatile.Write(ref _listenHealthy, false);
                LogListenFailed(e);
                try { await Task.Delay(1000, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listener is not null) { try { await _listener.ConfigureAwait(false); } catch { } }
        if (_sqliteWriter is not null)
        {
            await _sqliteWriteLock.WaitAsync().ConfigureAwait(false);
            await _sqliteWriter.DisposeAsync().ConfigureAwait(false);
            _sqliteWriter = null;
            _sqliteWriteLock.Release();
        }
        if (Engine == DbEngine.Sqlite) SqliteConnection.ClearAllPools();
        else
        {
            // Npgsql keeps a pool per connection string for the whole process (idle connections close only after
            // 5 minutes): a disposed store must not keep its connections (up to MaxPoolSize) to the database.
            await using var pooled = new NpgsqlConnection(_connectionString);
            NpgsqlConnection.ClearPool(pooled);
        }
        _stop.Dispose();
    }

    public async Task<bool> PingAsync(CancellationToken ct = default)
    {
        try
        {
            await using var conn = await OpenAsync(ct).ConfigureAwait(false);
            await using var c = conn.CreateCommand();
            c.CommandText = "SELECT 1";
            return Convert.ToInt64(await c.ExecuteScalarAsync(ct).ConfigureAwait(false)) == 1;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException)
        {
            return false;
        }
    }

    public ValueTask<Revisions> ReadRevisionsAsync(CancellationToken ct = default)
    {
        if (Engine == DbEngine.Sqlite || Volatile.Read(ref _listenHealthy)) return ValueTask.FromResult(Notifier.Current);
        return new ValueTask<Revisions>(ReadAndPublishAsync(ct));
    }

    private async Task<Revisions> ReadAndPublishAsync(CancellationToken ct)
    {
        var r = await ReadRevisionsFromDatabaseAsync(ct).ConfigureAwait(false);
        Notifier.Publish(r);
        return r.Revision >= Notifier.Current.Revision ? r : Notifier.Current;
    }

    private const string MetaQuery = "SELECT revision, policies_rev, leases_rev, registry_rev, policies_last_updated FROM weft_meta WHERE id = 1";

    /// <summary>How long the LISTEN connection may stay quiet before the revision is checked on it.</summary>
    private static readonly TimeSpan ListenCheckInterval = TimeSpan.FromSeconds(1);

    private async Task<Revisions> ReadRevisionsFromDatabaseAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct).ConfigureAwait(false);
        await using var c = conn.CreateCommand();
        c.CommandText = MetaQuery;
        await using var r = await c.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false)) throw new InvalidOperationException("weft_meta row missing");
        return new Revisions(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
    }

    // ---------------------------------------------------------------- policies and tags

    /// <summary>
    /// Rows per multi-row statement (a few parameters each: far below both engines' limits). SQLite
    /// statements are function calls, not round trips, and Microsoft.Data.Sqlite binds parameters by
    /// name with a linear search (quadratic in a statement's parameters): small statements there.
    /// </summary>
    private int RowsPerStatement => Engine == DbEngine.Sqlite ? 32 : 250;

    /// <summary>
    /// Creates the batch with a few set-based statements instead of several per policy: the batch's
    /// groups and destinations are read at once, missing tags (lowest free first, in order of first
    /// appearance in the batch, as one by one), destinations and policies inserted many rows per statement.
    /// </summary>
    public Task CreatePoliciesAsync(IReadOnlyList<PolicyKey> policies, CancellationToken ct = default) =>
        WriteAsync(async t =>
        {
            var changed = Changes.PolicyTouch;
            var unique = new List<PolicyKey>(policies.Count);
            var seenKeys = new HashSet<PolicyKey>();
            foreach (var p in policies) if (seenKeys.Add(p)) unique.Add(p);
            if (unique.Count == 0) return (0, changed);

            // 1. Groups (tags) of every app in the batch; allocate the missing ones.
            var appOrder = new List<string>();
            var apps = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in unique)
            {
                if (apps.Add(p.Source)) appOrder.Add(p.Source);
                if (apps.Add(p.Destination)) appOrder.Add(p.Destination);
            }
            var groups = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var chunk in appOrder.Chunk(RowsPerStatement))
            {
                await using var r = await t.ReadAsync($"SELECT guid, id FROM app_groups WHERE guid IN ({Params("g", chunk.Length)})",
                    [.. chunk.Select((g, i) => ($"g{i}", (object?)g))]).ConfigureAwait(false);
                while (await r.ReadAsync().ConfigureAwait(false)) groups[r.GetString(0)] = Convert.ToInt32(r.GetValue(1));
            }
            var missing = appOrder.Where(a => !groups.ContainsKey(a)).ToList();
            if (missing.Count > 0)
            {
                var free = new List<int>(missing.Count);
                await using (var r = await t.ReadAsync("SELECT id FROM app_groups WHERE guid IS NULL ORDER BY id LIMIT @n", ("n", missing.Count)).ConfigureAwait(false))
                    while (await r.ReadAsync().ConfigureAwait(false)) free.Add(Convert.ToInt32(r.GetValue(0)));
                if (free.Count < missing.Count) throw new TagsExhaustedException(_settings.TagCapacity);
                for (var i = 0; i < missing.Count; i++) groups[missing[i]] = free[i];
                for (var at = 0; at < missing.Count; at += RowsPerStatement)
                {
                    var n = Math.Min(RowsPerStatement, missing.Count - at);
                    var cases = string.Join(' ', Enumerable.Range(0, n).Select(i => $"WHEN @i{i} THEN @g{i}"));
                    var args = new List<(string, object?)>(2 * n);
                    for (var i = 0; i < n; i++) { args.Add(($"i{i}", free[at + i])); args.Add(($"g{i}", missing[at + i])); }
                    await t.ExecAsync($"UPDATE app_groups SET guid = CASE id {cases} END, type = 'app' WHERE id IN ({Params("i", n)})", [.. args]).ConfigureAwait(false);
                }
            }

            // 2. Destinations (group, ports, protocol) of the batch; insert the missing ones.
            var destinations = new Dictionary<(int, int, int, string), int>();
            var destGroups = unique.Select(p => groups[p.Destination]).Distinct().ToList();
            foreach (var chunk in destGroups.Chunk(RowsPerStatement))
            {
                await using var r = await t.ReadAsync(
                    $"SELECT id, group_id, start_port, end_port, protocol FROM destinations WHERE group_id IN ({Params("g", chunk.Length)})",
                    [.. chunk.Select((g, i) => ($"g{i}", (object?)g))]).ConfigureAwait(false);
                while (await r.ReadAsync().ConfigureAwait(false))
                    destinations[(Convert.ToInt32(r.GetValue(1)), Convert.ToInt32(r.GetValue(2)), Convert.ToInt32(r.GetValue(3)), r.GetString(4))] = Convert.ToInt32(r.GetValue(0));
            }
            var newDestinations = unique.Select(p => (groups[p.Destination], p.Start, p.End, p.Protocol)).Distinct().Where(d => !destinations.ContainsKey(d)).ToList();
            foreach (var chunk in newDestinations.Chunk(RowsPerStatement))
            {
                var values = string.Join(',', Enumerable.Range(0, chunk.Length).Select(i => $"(@g{i}, @port{i}, @p{i}, @s{i}, @e{i})"));
                var args = new List<(string, object?)>(5 * chunk.Length);
                for (var i = 0; i < chunk.Length; i++)
                {
                    var (g, start, end, protocol) = chunk[i];
                    args.Add(($"g{i}", g)); args.Add(($"port{i}", start == end ? start : 0)); args.Add(($"p{i}", protocol));
                    args.Add(($"s{i}", start)); args.Add(($"e{i}", end));
                }
                await using var r = await t.ReadAsync(
                    $"INSERT INTO destinations (group_id, port, protocol, start_port, end_port) VALUES {values} RETURNING id, group_id, start_port, end_port, protocol",
                    [.. args]).ConfigureAwait(false);
                while (await r.ReadAsync().ConfigureAwait(false))
                    destinations[(Convert.ToInt32(r.GetValue(1)), Convert.ToInt32(r.GetValue(2)), Convert.ToInt32(r.GetValue(3)), r.GetString(4))] = Convert.ToInt32(r.GetValue(0));
            }

            // 3. Policies: existing ones are no-ops; the inserted ones come back (in id order for the view).
            var byIds = new Dictionary<(int, int), PolicyKey>();
            foreach (var p in unique) byIds[(groups[p.Source], destinations[(groups[p.Destination], p.Start, p.End, p.Protocol)])] = p;
            var inserted = new List<(long Id, PolicyKey Key)>();
            foreach (var chunk in byIds.Chunk(RowsPerStatement))
            {
                var values = string.Join(',', Enumerable.Range(0, chunk.Length).Select(i => $"(@g{i}, @d{i})"));
                var args = new List<(string, object?)>(2 * chunk.Length);
                for (var i = 0; i < chunk.Length; i++) { args.Add(($"g{i}", chunk[i].Key.Item1)); args.Add(($"d{i}", chunk[i].Key.Item2)); }
                await using var r = await t.ReadAsync(
                    $"INSERT INTO policies (group_id, destination_id) VALUES {values} ON CONFLICT DO NOTHING RETURNING id, group_id, destination_id",
                    [.. args]).ConfigureAwait(false);
                while (await r.ReadAsync().ConfigureAwait(false))
                    inserted.Add((Convert.ToInt64(r.GetValue(0)), byIds[(Convert.ToInt32(r.GetValue(1)), Convert.ToInt32(r.GetValue(2)))]));
            }
            if (inserted.Count > 0) changed |= Changes.Policies;
            foreach (var (_, p) in inserted.OrderBy(x => x.Id))
                _delta.Value?.Added.Add(new PolicyRow(p.Source, groups[p.Source], p.Destination, groups[p.Destination], p.Protocol, p.Start, p.End));
            return (0, changed);
        }, ct);

    private static string Params(string prefix, int n) => string.Join(", ", Enumerable.Range(0, n).Select(i => $"@{prefix}{i}"));

    public Task DeletePoliciesAsync(IReadOnlyList<PolicyKey> policies, CancellationToken ct = default) =>
        WriteAsync(async t => (0, await DeleteInTxAsync(t, policies).ConfigureAwait(false) | Changes.PolicyTouch), ct);

    private async Task<Changes> DeleteInTxAsync(Tx t, IEnumerable<PolicyKey> policies)
    {
        var changed = Changes.None;
        var touchedGroups = new HashSet<int>();
        foreach (var p in policies)
        {
            var src = await t.LongAsync("SELECT id FROM app_groups WHERE guid = @g", ("g", p.Source)).ConfigureAwait(false);
            var dst = await t.LongAsync("SELECT id FROM app_groups WHERE guid = @g", ("g", p.Destination)).ConfigureAwait(false);
            if (src is null || dst is null) continue;
            var destId = await t.LongAsync(
                "SELECT id FROM destinations WHERE group_id = @g AND start_port = @s AND end_port = @e AND protocol = @p",
                ("g", (int)dst), ("s", p.Start), ("e", p.End), ("p", p.Protocol)).ConfigureAwait(false);
            if (destId is null) continue;
            var deleted = await t.ExecAsync("DELETE FROM policies WHERE group_id = @g AND destination_id = @d",
                ("g", (int)src), ("d", (int)destId)).ConfigureAwait(false);
            if (deleted == 0) continue;
            changed |= Changes.Policies;
            _delta.Value?.Removed.Add(p);
            await t.ExecAsync("DELETE FROM destinations WHERE id = @d AND NOT EXISTS (SELECT 1 FROM policies WHERE destination_id = @d)",
                ("d", (int)destId)).ConfigureAwait(false);
            touchedGroups.Add((int)src);
            touchedGroups.Add((int)dst);
        }
        foreach (var g in touchedGroups)
        {
            // CF: free the tag when no policy and no destination references the group. Only app tags: a
            // tag handed out through the internal tags API (the router's) is held by every agent's table
            // until its next snapshot, so reusing it would briefly give its ingress to another app.
            await t.ExecAsync("""
                UPDATE app_groups SET guid = NULL, type = NULL WHERE id = @g AND type = 'app'
                  AND NOT EXISTS (SELECT 1 FROM policies WHERE group_id = @g)
                  AND NOT EXISTS (SELECT 1 FROM destinations WHERE group_id = @g)
                """, ("g", g)).ConfigureAwait(false);
        }
        return changed;
    }

    public async Task<List<PolicyRow>> CleanupStalePoliciesAsync(TimeSpan grace, CancellationToken ct = default)
    {
        var (rows, _) = await WriteAsync(async t =>
        {
            var cutoff = NowUnix - (long)grace.TotalSeconds;
            var stale = new HashSet<string>(StringComparer.Ordinal);
            await using (var r = await t.ReadAsync("""
                SELECT a.app_id FROM apps_seen a
                WHERE a.last_seen < @cutoff
                  AND NOT EXISTS (SELECT 1 FROM containers c WHERE c.app_id = a.app_id)
                  AND EXISTS (SELECT 1 FROM app_groups g WHERE g.guid = a.app_id)
                """, ("cutoff", cutoff)).ConfigureAwait(false))
                while (await r.ReadAsync().ConfigureAwait(false)) stale.Add(r.GetString(0));
            if (stale.Count == 0) return (new List<PolicyRow>(), Changes.None);
            var victims = (await LoadPolicyRowsAsync(t).ConfigureAwait(false))
                .Where(p => stale.Contains(p.Source) || stale.Contains(p.Destination)).ToList();
            var changed = await DeleteInTxAsync(t, victims.Select(v => v.Key)).ConfigureAwait(false);
            return (victims, changed | Changes.PolicyTouch);
        }, ct).ConfigureAwait(false);
        return rows;
    }

    public Task<PolicySnapshot> LoadPoliciesAsync(CancellationToken ct = default) =>
        ReadAsync(async t =>
        {
            var meta = await ReadMetaAsync(t).ConfigureAwait(false);
            var rows = await LoadPolicyRowsAsync(t).ConfigureAwait(false);
            return new PolicySnapshot(meta.Policies, [.. rows], meta.Revision);
        }, ct);

    private static async Task<List<PolicyRow>> LoadPolicyRowsAsync(Tx t)
    {
        var rows = new List<PolicyRow>();
        var intern = new Dictionary<string, string>(StringComparer.Ordinal);
        string Intern(string s) => intern.TryGetValue(s, out var v) ? v : intern[s] = s;
        await using var r = await t.ReadAsync("""
            SELECT sg.guid, sg.id, dg.guid, dg.id, d.protocol, d.start_port, d.end_port
            FROM policies p
            JOIN app_groups sg ON sg.id = p.group_id
            JOIN destinations d ON d.id = p.destination_id
            JOIN app_groups dg ON dg.id = d.group_id
            ORDER BY p.id
            """).ConfigureAwait(false);
        while (await r.ReadAsync().ConfigureAwait(false))
        {
            rows.Add(new PolicyRow(Intern(r.GetString(0)), r.GetInt32(1), Intern(r.GetString(2)),
                r.GetInt32(3), Intern(r.GetString(4)), r.GetInt32(5), r.GetInt32(6)));
        }
        return rows;
    }

    public Task<List<TagEntry>> ListTagsAsync(CancellationToken ct = default) =>
        ReadAsync(async t =>
        {
            var tags = new List<TagEntry>();
            await using var r = await t.ReadAsync("SELECT guid, id, type FROM app_groups WHERE guid IS NOT NULL ORDER BY id").ConfigureAwait(false);
            while (await r.ReadAsync().ConfigureAwait(false))
                tags.Add(new TagEntry
                {
                    Id = r.GetString(0),
                    Tag = PolicyValidator.FormatTag(Convert.ToInt32(r.GetValue(1)), _settings.TagLength),
                    Type = r.IsDBNull(2) ? "app" : r.GetString(2),
                });
            return tags;
        }, ct);

    public async Task<TagEntry> GetOrCreateTagAsync(string id, string type, CancellationToken ct = default)
    {
        var ((tag, storedType), _) = await WriteAsync(async t =>
        {
            await using (var r = await t.ReadAsync("SELECT id, type FROM app_groups WHERE guid = @g", ("g", id)).ConfigureAwait(false))
            {
                if (await r.ReadAsync().ConfigureAwait(false))
                    return ((Convert.ToInt32(r.GetValue(0)), r.IsDBNull(1) ? type : r.GetString(1)), Changes.None);
            }
            var free = await t.LongAsync("SELECT id FROM app_groups WHERE guid IS NULL ORDER BY id LIMIT 1").ConfigureAwait(false)
                ?? throw new TagsExhaustedException(_settings.TagCapacity);
            await t.ExecAsync("UPDATE app_groups SET guid = @g, type = @t WHERE id = @id", ("g", id), ("t", type), ("id", (int)free)).ConfigureAwait(false);
            return (((int)free, type), Changes.None);
        }, ct).ConfigureAwait(false);
        return new TagEntry { Id = id, Tag = PolicyValidator.FormatTag(tag, _settings.TagLength), Type = storedType };
    }

    // ---------------------------------------------------------------- leases

    private const string LeaseColumns = "underlay_ip, overlay_subnet, overlay_hwaddr, last_renewed_at";

    private static LeaseRow ReadLease(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3));

    private static async Task<LeaseRow?> LeaseForUnderlayAsync(Tx t, string underlayIp)
    {
        await using var r = await t.ReadAsync($"SELECT {LeaseColumns} FROM subnets WHERE underlay_ip = @u", ("u", underlayIp)).ConfigureAwait(false);
        return await r.ReadAsync().ConfigureAwait(false) ? ReadLease(r) : null;
    }

    public async Task<Lease?> AcquireLeaseAsync(string underlayIp, bool singleOverlayIp, CancellationToken ct = default)
    {
        var pool = _settings.Pool;
        var expiry = (long)_settings.LeaseExpiry.TotalSeconds;
        var (lease, _) = await WriteAsync(async t =>
        {
            var changed = Changes.None;
            var now = NowUnix;
            var existing = await LeaseForUnderlayAsync(t, underlayIp).ConfigureAwait(false);
            if (existing is { } e)
            {
                if (pool.Contains(e.OverlaySubnet)) return (e.ToContract(), Changes.None);
                await t.ExecAsync("DELETE FROM subnets WHERE underlay_ip = @u", ("u", underlayIp)).ConfigureAwait(false);
                changed |= Changes.Leases;
            }
            var taken = new HashSet<string>(StringComparer.Ordinal);
            await using (var r = await t.ReadAsync("SELECT overlay_subnet FROM subnets").ConfigureAwait(false))
                while (await r.ReadAsync().ConfigureAwait(false)) taken.Add(r.GetString(0));
            var subnet = pool.PickFree(singleOverlayIp, taken, Random.Shared);
            if (subnet is null)
            {
                // Pool exhausted: reclaim the oldest expired lease of this kind (Silk).
                var kind = singleOverlayIp ? "LIKE '%/32'" : "NOT LIKE '%/32'";
                string? reclaimed = null;
                await using (var r = await t.ReadAsync(
                    $"SELECT overlay_subnet FROM subnets WHERE last_renewed_at + @x <= @now AND overlay_subnet {kind} ORDER BY last_renewed_at LIMIT 1",
                    ("x", expiry), ("now", now)).ConfigureAwait(false))
                    if (await r.ReadAsync().ConfigureAwait(false)) reclaimed = r.GetString(0);
                if (reclaimed is null) return ((Lease?)null, changed);
                await t.ExecAsync("DELETE FROM subnets WHERE overlay_subnet = @s", ("s", reclaimed)).ConfigureAwait(false);
                subnet = reclaimed;
            }
            var created = new LeaseRow(underlayIp, subnet, LeasePool.HardwareAddr(subnet), now);
            await t.ExecAsync($"INSERT INTO subnets ({LeaseColumns}) VALUES (@u, @s, @m, @t)",
                ("u", created.UnderlayIp), ("s", created.OverlaySubnet), ("m", created.OverlayHardwareAddr), ("t", now)).ConfigureAwait(false);
            return (created.ToContract(), changed | Changes.Leases);
        }, ct).ConfigureAwait(false);
        return lease;
    }

    public Task RenewLeaseAsync(Lease lease, CancellationToken ct = default)
    {
        var error = LeasePool.Validate(lease);
        if (error is not null) throw new LeaseConflictException(error);
        var expiry = (long)_settings.LeaseExpiry.TotalSeconds;
        return WriteAsync(async t =>
        {
            var now = NowUnix;
            var existing = await LeaseForUnderlayAsync(t, lease.UnderlayIp).ConfigureAwait(false);
            if (existing is null)
            {
                // Re-adopt: the server lost the lease (or never had it); take it if nobody else holds it.
                var clash = await t.LongAsync("SELECT COUNT(*) FROM subnets WHERE overlay_subnet = @s OR overlay_hwaddr = @m",
                    ("s", lease.OverlaySubnet), ("m", lease.OverlayHardwareAddr)).ConfigureAwait(false);
                if (clash > 0) throw new LeaseConflictException("lease mismatch");
                await t.ExecAsync($"INSERT INTO subnets ({LeaseColumns}) VALUES (@u, @s, @m, @t)",
                    ("u", lease.UnderlayIp), ("s", lease.OverlaySubnet), ("m", lease.OverlayHardwareAddr), ("t", now)).ConfigureAwait(false);
                return (0, Changes.Leases);
            }
            var e = existing.Value;
            if (e.OverlaySubnet != lease.OverlaySubnet || !string.Equals(e.OverlayHardwareAddr, lease.OverlayHardwareAddr, StringComparison.OrdinalIgnoreCase))
                throw new LeaseConflictException("lease mismatch");
            await t.ExecAsync("UPDATE subnets SET last_renewed_at = @t WHERE underlay_ip = @u", ("t", now), ("u", lease.UnderlayIp)).ConfigureAwait(false);
            // Renewal is invisible to watchers unless the lease had expired (it reappears in the list).
            return (0, e.LastRenewedAt + expiry <= now ? Changes.Leases : Changes.None);
        }, ct);
    }

    public Task ReleaseLeaseAsync(string underlayIp, CancellationToken ct = default) =>
        WriteAsync(async t =>
        {
            var n = await t.ExecAsync("DELETE FROM subnets WHERE underlay_ip = @u", ("u", underlayIp)).ConfigureAwait(false);
            return (0, n > 0 ? Changes.Leases : Changes.None);
        }, ct);

    public Task<LeaseSnapshot> LoadLeasesAsync(CancellationToken ct = default) =>
        ReadAsync(async t =>
        {
            var meta = await ReadMetaAsync(t).ConfigureAwait(false);
            var rows = new List<LeaseRow>();
            await using var r = await t.ReadAsync($"SELECT {LeaseColumns} FROM subnets ORDER BY id").ConfigureAwait(false);
            while (await r.ReadAsync().ConfigureAwait(false)) rows.Add(ReadLease(r));
            return new LeaseSnapshot(meta.Leases, [.. rows]);
        }, ct);

    // ---------------------------------------------------------------- registry

    public async Task<long> PutCellAsync(string cellId, CellRegistrationRequest registration, CancellationToken ct = default)
    {
        var incoming = registration.Containers.OrderBy(c => c.ContainerId, StringComparer.Ordinal).ToList();
        var (_, revs) = await WriteAsync(async t =>
        {
            var now = NowUnix;
            string? storedUnderlay = null;
            await using (var r = await t.ReadAsync("SELECT underlay_ip FROM cells WHERE cell_id = @c", ("c", cellId)).ConfigureAwait(false))
                if (await r.ReadAsync().ConfigureAwait(false)) storedUnderlay = r.GetString(0);
            var stored = new List<ContainerRecord>();
            await using (var r = await t.ReadAsync($"SELECT {ContainerColumns} FROM containers WHERE cell_id = @c ORDER BY container_id", ("c", cellId)).ConfigureAwait(false))
                while (await r.ReadAsync().ConfigureAwait(false)) stored.Add(ReadContainer(r));
            var same = storedUnderlay == registration.UnderlayIp && stored.Count == incoming.Count
                && stored.Zip(incoming).All(p => SameContainer(p.First, p.Second));
            await t.ExecAsync("""
                INSERT INTO cells (cell_id, underlay_ip, updated_at) VALUES (@c, @u, @t)
                ON CONFLICT (cell_id) DO UPDATE SET underlay_ip = excluded.underlay_ip, updated_at = excluded.updated_at
                """, ("c", cellId), ("u", registration.UnderlayIp), ("t", now)).ConfigureAwait(false);
            foreach (var app in incoming.Select(c => c.AppId).Distinct(StringComparer.Ordinal))
                await t.ExecAsync("""
                    INSERT INTO apps_seen (app_id, last_seen) VALUES (@a, @t)
                    ON CONFLICT (app_id) DO UPDATE SET last_seen = excluded.last_seen
                    """, ("a", app), ("t", now)).ConfigureAwait(false);
            if (same) return (0, Changes.None);
            await t.ExecAsync("DELETE FROM containers WHERE cell_id = @c", ("c", cellId)).ConfigureAwait(false);
            foreach (var c in incoming)
                await t.ExecAsync($"""
                    INSERT INTO containers (cell_id, {ContainerColumns})
                    VALUES (@cell, @id, @app, @name, @space, @org, @idx, @ip, @ports)
                    """,
                    ("cell", cellId), ("id", c.ContainerId), ("app", c.AppId), ("name", c.AppName), ("space", c.SpaceId),
                    ("org", c.OrgId), ("idx", c.InstanceIndex), ("ip", c.Ip), ("ports", string.Join(',', c.Ports))).ConfigureAwait(false);
            return (0, Changes.Registry);
        }, ct).ConfigureAwait(false);
        return revs.Revision;
    }

    public async Task<long> DeleteCellAsync(string cellId, CancellationToken ct = default)
    {
        var (_, revs) = await WriteAsync(async t =>
        {
            var a = await t.ExecAsync("DELETE FROM containers WHERE cell_id = @c", ("c", cellId)).ConfigureAwait(false);
            var b = await t.ExecAsync("DELETE FROM cells WHERE cell_id = @c", ("c", cellId)).ConfigureAwait(false);
            return (0, a + b > 0 ? Changes.Registry : Changes.None);
        }, ct).ConfigureAwait(false);
        return revs.Revision;
    }

    private const string ContainerColumns = "container_id, app_id, app_name, space_id, org_id, instance_index, ip, ports";

    private static ContainerRecord ReadContainer(DbDataReader r, int o = 0) => new()
    {
        ContainerId = r.GetString(o),
        AppId = r.GetString(o + 1),
        AppName = r.IsDBNull(o + 2) ? null : r.GetString(o + 2),
        SpaceId = r.IsDBNull(o + 3) ? null : r.GetString(o + 3),
        OrgId = r.IsDBNull(o + 4) ? null : r.GetString(o + 4),
        InstanceIndex = Convert.ToInt32(r.GetValue(o + 5)),
        Ip = r.GetString(o + 6),
        Ports = r.GetString(o + 7).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList(),
    };

    private static bool SameContainer(ContainerRecord a, ContainerRecord b) =>
        a.ContainerId == b.ContainerId && a.AppId == b.AppId && a.AppName == b.AppName && a.SpaceId == b.SpaceId
        && a.OrgId == b.OrgId && a.InstanceIndex == b.InstanceIndex && a.Ip == b.Ip && a.Ports.SequenceEqual(b.Ports);

    public Task<RegistrySnapshot> LoadRegistryAsync(CancellationToken ct = default) =>
        ReadAsync(async t =>
        {
            var meta = await ReadMetaAsync(t).ConfigureAwait(false);
            var cells = new Dictionary<string, CellRegistration>(StringComparer.Ordinal);
            var order = new List<CellRegistration>();
            await using (var r = await t.ReadAsync("SELECT cell_id, underlay_ip, updated_at FROM cells ORDER BY cell_id").ConfigureAwait(false))
                while (await r.ReadAsync().ConfigureAwait(false))
                {
                    var c = new CellRegistration { CellId = r.GetString(0), UnderlayIp = r.GetString(1), UpdatedAt = r.GetInt64(2) };
                    cells[c.CellId] = c;
                    order.Add(c);
                }
            await using (var r = await t.ReadAsync($"SELECT cell_id, {ContainerColumns} FROM containers ORDER BY cell_id, container_id").ConfigureAwait(false))
                while (await r.ReadAsync().ConfigureAwait(false))
                    if (cells.TryGetValue(r.GetString(0), out var cell)) cell.Containers.Add(ReadContainer(r, 1));
            return new RegistrySnapshot(meta.Registry, order);
        }, ct);

    // ---------------------------------------------------------------- logging

    [LoggerMessage(Level = LogLevel.Information, Message = "applied migration {Version}: {Name}")]
    private partial void LogMigration(int version, string name);

    [LoggerMessage(Level = LogLevel.Error, Message = "a commit handler failed")]
    private partial void LogCommitHandlerFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Debug, Message = "a commit notification was missed (knew revision {Known}, database has {Committed}); caught up")]
    private partial void LogMissedNotification(long known, long committed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL LISTEN connection failed; reconnecting")]
    private partial void LogListenFailed(Exception e);
}
