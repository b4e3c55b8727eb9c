namespace Weft.Server.Storage;

/// <summary>
/// Versioned migrations, one schema for both engines. <c>{ID}</c> is replaced by the engine's
/// auto-increment primary key. Migrations only ever get appended.
/// </summary>
internal static class Schema
{
    public const string MigrationsTable =
        "CREATE TABLE IF NOT EXISTS weft_migrations (version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)";

    public static readonly (int Version, string Name, string[] Statements)[] Migrations =
    [
        (1, "core schema", [
            // The revision counter and the revision of each kind's last change (one row).
            """
            CREATE TABLE weft_meta (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL, policies_rev BIGINT NOT NULL,
              leases_rev BIGINT NOT NULL, registry_rev BIGINT NOT NULL, policies_last_updated BIGINT NOT NULL)
            """,
            "INSERT INTO weft_meta (id, revision, policies_rev, leases_rev, registry_rev, policies_last_updated) VALUES (1, 0, 0, 0, 0, 0)",
            // CF's groups table: the id is the tag. Pre-populated with every tag; guid NULL = free.
            "CREATE TABLE app_groups (id INTEGER PRIMARY KEY, guid VARCHAR(255) UNIQUE, type VARCHAR(255))",
            "CREATE INDEX app_groups_free ON app_groups (id) WHERE guid IS NULL",
            """
            CREATE TABLE destinations (id {ID}, group_id INTEGER NOT NULL REFERENCES app_groups (id),
              port INTEGER NOT NULL, protocol VARCHAR(16) NOT NULL, start_port INTEGER NOT NULL, end_port INTEGER NOT NULL,
              UNIQUE (group_id, start_port, end_port, protocol))
            """,
            """
            CREATE TABLE policies (id {ID}, group_id INTEGER NOT NULL REFERENCES app_groups (id),
              destination_id INTEGER NOT NULL REFERENCES destinations (id), UNIQUE (group_id, destination_id))
            """,
            "CREATE INDEX policies_destination ON policies (destination_id)",
            // Silk's subnets table.
            """
            CREATE TABLE subnets (id {ID}, underlay_ip VARCHAR(45) NOT NULL UNIQUE, overlay_subnet VARCHAR(43) NOT NULL UNIQUE,
              overlay_hwaddr VARCHAR(17) NOT NULL UNIQUE, last_renewed_at BIGINT NOT NULL)
            """,
            // The registry: cells and their containers, as their agents report them.
            "CREATE TABLE cells (cell_id VARCHAR(255) PRIMARY KEY, underlay_ip VARCHAR(45) NOT NULL, updated_at BIGINT NOT NULL)",
            """
            CREATE TABLE containers (cell_id VARCHAR(255) NOT NULL, container_id VARCHAR(255) NOT NULL, app_id VARCHAR(255) NOT NULL,
              app_name VARCHAR(255), space_id VARCHAR(255), org_id VARCHAR(255), instance_index INTEGER NOT NULL,
              ip VARCHAR(45) NOT NULL, ports VARCHAR(2048) NOT NULL, PRIMARY KEY (cell_id, container_id))
            """,
            "CREATE INDEX containers_app ON containers (app_id)",
            // When an app was last seen running (for stale-policy cleanup).
            "CREATE TABLE apps_seen (app_id VARCHAR(255) PRIMARY KEY, last_seen BIGINT NOT NULL)",
        ]),
    ];

    public static string Render(string sql, DbEngine engine) =>
        sql.Replace("{ID}", engine == DbEngine.Sqlite ? "INTEGER PRIMARY KEY" : "SERIAL PRIMARY KEY");
}
