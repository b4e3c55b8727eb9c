using System.Text;
using Weft.Server.Leases;
using Weft.Server.Policies;
using Weft.Server.Storage;

namespace Weft.Server.Tests;

/// <summary>The in-memory policy view follows commits without reloading and always equals a fresh load.</summary>
public abstract class ViewTests
{
    protected abstract Task<IStore> OpenAsync();

    [Fact]
    public async Task View_after_random_writes_equals_a_fresh_load()
    {
        await using var store = await OpenAsync();
        var cache = new StateCache(store);
        var rnd = new Random(3);
        var keys = Enumerable.Range(0, 40).Select(i => new PolicyKey($"s{i % 7}", $"d{i % 5}", i % 2 == 0 ? "tcp" : "udp", 1000 + i % 3, 1000 + i % 3 + (i % 4 == 0 ? 5 : 0))).Distinct().ToList();
        await cache.PoliciesAsync(); // a view to follow from
        for (var round = 0; round < 60; round++)
        {
            var batch = Enumerable.Range(0, rnd.Next(1, 6)).Select(_ => keys[rnd.Next(keys.Count)]).ToList();
            switch (rnd.Next(4))
            {
                case 0: await store.DeletePoliciesAsync(batch); break;
                case 1: await store.AcquireLeaseAsync($"198.18.9.{round + 1}", false); break;
                default: await store.CreatePoliciesAsync(batch); break;
            }
            if (rnd.Next(3) == 0)
            {
                var (_, view) = await cache.PoliciesAsync();
                var fresh = await store.LoadPoliciesAsync();
                Assert.Equal(fresh.Revision, view.Revision);
                Assert.Equal(fresh.Rows.OrderBy(r => r.ToString()), view.Rows.OrderBy(r => r.ToString()));
                foreach (var app in new[] { "s1", "d2", "s6" })
                    Assert.Equal(fresh.ByGuids([app], [app], false).OrderBy(r => r.ToString()), view.ByGuids([app], [app], false).OrderBy(r => r.ToString()));
                // Same order, same serialised lists (the view's carry cached fragments over), same tags.
                Assert.Equal(fresh.Rows, view.Rows);
                foreach (var (tags, v0) in new[] { (true, false), (false, false), (false, true) })
                    Assert.Equal(Encoding.UTF8.GetString(fresh.ListBytes(tags, 2, v0)), Encoding.UTF8.GetString(view.ListBytes(tags, 2, v0)));
                Assert.Equal(fresh.TagByApp.OrderBy(p => p.Key), view.TagByApp.OrderBy(p => p.Key));
                foreach (var app in new[] { "s1", "d2", "s6", "d4" })
                    Assert.Equal(fresh.IndexesByGuids([app, "s0"]).Select(i => fresh.Rows[i]), view.IndexesByGuids([app, "s0"]).Select(i => view.Rows[i]));
            }
        }
    }

    protected static StoreSettings Settings => new(new LeasePool("10.255.0.0/16", 24), TimeSpan.FromHours(1));
}

public sealed class SqliteViewTests : ViewTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-view-").FullName;

    protected override async Task<IStore> OpenAsync()
    {
        var s = SqlStore.Sqlite(Path.Combine(_dir, "v.db"), Settings);
        await s.InitializeAsync();
        return s;
    }

    public void Dispose() => Directory.Delete(_dir, true);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresViewTests(PostgresFixture pg) : ViewTests
{
    protected override async Task<IStore> OpenAsync()
    {
        var s = SqlStore.Postgres(await pg.CreateDatabaseAsync(), Settings);
        await s.InitializeAsync();
        return s;
    }
}
