using System.Diagnostics;
using Npgsql;

namespace Weft.Server.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster for the whole test run: initdb in a temp directory (as user
/// postgres when we are root, since initdb refuses root), pg_ctl start listening only on a unix
/// socket in that directory (no TCP port: a port picked as free could be taken by another test
/// process before the server binds it), trust auth. One database per test class
/// (<see cref="CreateDatabaseAsync"/>). Stopped and removed at the end, also after failures.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private string? _dir;
    private string? _bin;
    /// <summary>Names the socket file (DIR/.s.PGSQL.PORT); the directory is private, so any number does.</summary>
    public const int Port = 5432;
    public string? StartError { get; private set; }

    public async Task InitializeAsync()
    {
        try
        {
            _bin = FindBin() ?? throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); .ci/run installs it");
            _dir = Directory.CreateTempSubdirectory("weft-pg-").FullName;
            var data = Path.Combine(_dir, "data");
            if (Weft.TestSupport.Privileges.IsRoot) Run("chown", "-R", "postgres:postgres", _dir);
            RunPg(Path.Combine(_bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync");
            RunPg(Path.Combine(_bin, "pg_ctl"), "-D", data, "-l", Path.Combine(_dir, "log"), "-w", "-t", "60", "-o",
                $"-p {Port} -k {_dir} -c listen_addresses='' -c fsync=off -c max_connections=300 -c shared_buffers=64MB", "start");
            await using var c = new NpgsqlConnection(AdminConnectionString);
            await c.OpenAsync();
        }
        catch (Exception e)
        {
            StartError = e.Message + (_dir is not null && File.Exists(Path.Combine(_dir, "log")) ? "\n" + File.ReadAllText(Path.Combine(_dir, "log")) : "");
        }
    }

    public string AdminConnectionString => $"Host={_dir};Port={Port};Username=postgres;Database=postgres;Pooling=false";

    public string ConnectionString(string database) => $"Host={_dir};Port={Port};Username=postgres;Database={database}";

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "weft")
    {
        if (StartError is not null) throw new InvalidOperationException("PostgreSQL did not start: " + StartError);
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 60)].ToLowerInvariant();
        await using var c = new NpgsqlConnection(AdminConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", c);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public Task DisposeAsync()
    {
        if (_dir is null) return Task.CompletedTask;
        try
        {
            if (_bin is not null && Directory.Exists(Path.Combine(_dir, "data")))
                RunPg(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop");
        }
        catch { /* already stopped */ }
        try { Directory.Delete(_dir, recursive: true); } catch { }
        return Task.CompletedTask;
    }

    private static string? FindBin() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb")))
                .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;

    private void RunPg(string exe, params string[] args)
    {
        if (Weft.TestSupport.Privileges.IsRoot) Run("runuser", ["-u", "postgres", "--", exe, .. args]);
        else Run(exe, args);
    }

    private static void Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException($"{exe} timed out"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
