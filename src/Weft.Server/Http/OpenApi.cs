using System.Text.Json;

namespace Weft.Server.Http;

/// <summary>
/// The OpenAPI 3.1 description of both listeners, served at GET /openapi.json. Written by hand
/// from the route table below so that it documents CF's exact shapes (snake_case, omitted tags).
/// </summary>
internal static class OpenApi
{
    private sealed record Op(string Method, string Path, string Summary, string Security, string? Request, string Response, params int[] Errors);

    private const string Token = "token";   // bearer token, network.admin or network.write
    private const string Admin = "admin";   // bearer token, network.admin
    private const string Mtls = "mtls";     // internal listener, client certificate from the platform CA
    private const string TokenOrMtls = "token-or-mtls";
    private const string None = "none";

    private static readonly Op[] Ops =
    [
        new("get", "/", "Uptime text: 'Network policy server, up for <duration>'", None, null, "text"),
        new("get", "/health", "SELECT 1 on the database: 200 empty, or 500 {\"error\":\"check database failed\"}", None, null, "empty", 500),
        new("get", "/metrics", "Prometheus text exposition", None, null, "text"),
        new("get", "/openapi.json", "This document", None, null, "object"),
        new("get", "/networking/{version}/external/policies", "List policies (CF). Query: id, source_id, dest_id (comma-separated; first occurrence counts). v0 lists single-port policies only.", Token, null, "PoliciesResponse", 401, 403, 406),
        new("post", "/networking/{version}/external/policies", "Create policies in one transaction (idempotent). Non-admins: per-source quota.", Token, "PoliciesRequest", "Empty", 400, 401, 403, 406, 500),
        new("post", "/networking/{version}/external/policies/delete", "Delete policies in one transaction (missing ones are no-ops); frees unreferenced tags.", Token, "PoliciesRequest", "Empty", 400, 401, 403, 406, 500),
        new("post", "/networking/{version}/external/policies/cleanup", "Delete policies of apps without registered instances for policy.staleAppAfterMinutes; returns them.", Admin, null, "PoliciesResponse", 401, 403, 406),
        new("get", "/networking/{version}/external/tags", "List allocated tags", Admin, null, "TagsResponse", 401, 403, 406),
        new("get", "/networking/{version}/external/whoami", "The token's subject", Admin, null, "WhoAmIResponse", 401, 403, 406),
        new("get", "/networking/{version}/internal/policies", "Policies with tags (CF internal). Query: id=a,b (source or destination).", Mtls, null, "PoliciesResponse"),
        new("get", "/networking/{version}/internal/policies_last_updated", "Bare JSON integer: unix nanoseconds of the last policy write", Mtls, null, "integer"),
        new("put", "/networking/v1/internal/tags", "Get-or-create the tag of {id, type} (e.g. a router)", Mtls, "TagRequest", "TagEntry", 400),
        new("get", "/weft/v1/leases", "Active subnet leases (also GET /leases, Silk's path, internal only)", TokenOrMtls, null, "LeasesResponse"),
        new("put", "/weft/v1/leases/acquire", "Acquire (or get back) the lease of an underlay IP; 409 no lease available (also /leases/acquire)", Mtls, "LeaseAcquireRequest", "Lease", 400, 409),
        new("put", "/weft/v1/leases/renew", "Renew a lease; inserts it when missing; 409 on mismatch (also /leases/renew)", Mtls, "Lease", "Empty", 400, 409),
        new("put", "/weft/v1/leases/release", "Release the lease of an underlay IP (also /leases/release)", Mtls, "LeaseReleaseRequest", "Empty", 400),
        new("put", "/weft/v1/registry/cells/{cellId}", "Replace the full set of a cell's containers", Mtls, "CellRegistrationRequest", "RevisionResponse", 400),
        new("delete", "/weft/v1/registry/cells/{cellId}", "Forget a cell and its containers", Mtls, null, "RevisionResponse"),
        new("get", "/weft/v1/registry", "Every registered cell and its containers", TokenOrMtls, null, "RegistryResponse"),
        new("get", "/weft/v1/ips", "Cluster-wide overlay IP → app (and tag)", TokenOrMtls, null, "IpsResponse"),
        new("get", "/weft/v1/apps", "Apps with names, tags and instances. Query: name=a,b; id=a,b", TokenOrMtls, null, "AppsResponse"),
        new("get", "/weft/v1/watch", "Long-poll: returns when a kind changed after revision `since` (query: since, timeout=30s, kinds=policies,leases,registry)", TokenOrMtls, null, "WatchResponse", 400),
        new("get", "/weft/v1/snapshot", "Everything an agent needs (query: app_ids=a,b filters policies)", TokenOrMtls, null, "SnapshotResponse"),
    ];

    private static readonly (string Name, string Json)[] Schemas =
    [
        ("Error", """{"type":"object","properties":{"error":{"type":"string"}},"required":["error"]}"""),
        ("Empty", """{"type":"object","description":"exactly {}"}"""),
        ("Source", """{"type":"object","properties":{"id":{"type":"string"},"tag":{"type":"string","description":"internal responses only; 4 upper-case hex digits"}},"required":["id"]}"""),
        ("Destination", """{"type":"object","properties":{"id":{"type":"string"},"tag":{"type":"string"},"protocol":{"enum":["tcp","udp"]},"ports":{"type":"object","properties":{"start":{"type":"integer"},"end":{"type":"integer"}}},"port":{"type":"integer","description":"v0 only"}},"required":["id","protocol"]}"""),
        ("Policy", """{"type":"object","properties":{"source":{"$ref":"#/components/schemas/Source"},"destination":{"$ref":"#/components/schemas/Destination"}}}"""),
        ("PoliciesRequest", """{"type":"object","properties":{"policies":{"type":"array","items":{"$ref":"#/components/schemas/Policy"}}}}"""),
        ("PoliciesResponse", """{"type":"object","properties":{"total_policies":{"type":"integer"},"policies":{"type":"array","items":{"$ref":"#/components/schemas/Policy"}}}}"""),
        ("TagEntry", """{"type":"object","properties":{"id":{"type":"string"},"tag":{"type":"string"},"type":{"type":"string"}}}"""),
        ("TagRequest", """{"type":"object","properties":{"id":{"type":"string"},"type":{"type":"string"}},"required":["id","type"]}"""),
        ("TagsResponse", """{"type":"object","properties":{"tags":{"type":"array","items":{"$ref":"#/components/schemas/TagEntry"}}}}"""),
        ("WhoAmIResponse", """{"type":"object","properties":{"subject":{"type":"string"}}}"""),
        ("Lease", """{"type":"object","properties":{"underlay_ip":{"type":"string"},"overlay_subnet":{"type":"string"},"overlay_hardware_addr":{"type":"string"}}}"""),
        ("LeaseAcquireRequest", """{"type":"object","properties":{"underlay_ip":{"type":"string"},"single_overlay_ip":{"type":"boolean"}}}"""),
        ("LeaseReleaseRequest", """{"type":"object","properties":{"underlay_ip":{"type":"string"}}}"""),
        ("LeasesResponse", """{"type":"object","properties":{"leases":{"type":"array","items":{"$ref":"#/components/schemas/Lease"}}}}"""),
        ("Container", """{"type":"object","properties":{"container_id":{"type":"string"},"app_id":{"type":"string"},"app_name":{"type":"string"},"space_id":{"type":"string"},"org_id":{"type":"string"},"instance_index":{"type":"integer"},"ip":{"type":"string"},"ports":{"type":"array","items":{"type":"integer"}}},"required":["container_id","app_id","ip"]}"""),
        ("CellRegistrationRequest", """{"type":"object","properties":{"underlay_ip":{"type":"string"},"containers":{"type":"array","items":{"$ref":"#/components/schemas/Container"}}}}"""),
        ("Cell", """{"type":"object","properties":{"cell_id":{"type":"string"},"underlay_ip":{"type":"string"},"updated_at":{"type":"integer"},"containers":{"type":"array","items":{"$ref":"#/components/schemas/Container"}}}}"""),
        ("RegistryResponse", """{"type":"object","properties":{"revision":{"type":"integer"},"cells":{"type":"array","items":{"$ref":"#/components/schemas/Cell"}}}}"""),
        ("RevisionResponse", """{"type":"object","properties":{"revision":{"type":"integer"}}}"""),
        ("IpOwner", """{"type":"object","properties":{"ip":{"type":"string"},"app_id":{"type":"string"},"tag":{"type":"string"},"cell_id":{"type":"string"},"container_id":{"type":"string"}}}"""),
        ("IpsResponse", """{"type":"object","properties":{"revision":{"type":"integer"},"ips":{"type":"array","items":{"$ref":"#/components/schemas/IpOwner"}}}}"""),
        ("App", """{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"},"space_id":{"type":"string"},"tag":{"type":"string"},"instances":{"type":"array","items":{"type":"object","properties":{"container_id":{"type":"string"},"instance_index":{"type":"integer"},"ip":{"type":"string"},"cell_id":{"type":"string"},"ports":{"type":"array","items":{"type":"integer"}}}}}}}"""),
        ("AppsResponse", """{"type":"object","properties":{"apps":{"type":"array","items":{"$ref":"#/components/schemas/App"}}}}"""),
        ("WatchResponse", """{"type":"object","properties":{"revision":{"type":"integer"},"changed":{"type":"array","items":{"enum":["policies","leases","registry"]}}}}"""),
        ("SnapshotResponse", """{"type":"object","properties":{"revision":{"type":"integer"},"policies":{"type":"array","items":{"$ref":"#/components/schemas/Policy"}},"leases":{"type":"array","items":{"$ref":"#/components/schemas/Lease"}},"cells":{"type":"array","items":{"$ref":"#/components/schemas/Cell"}},"ips":{"type":"array","items":{"$ref":"#/components/schemas/IpOwner"}}}}"""),
    ];

    public static readonly Lazy<byte[]> Document = new(Build);

    private static byte[] Build()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("openapi", "3.1.0");
            w.WriteStartObject("info");
            w.WriteString("title", "weft-server");
            w.WriteString("version", "1");
            w.WriteString("description", "Weft control plane. External listener (default :4002): CF policy-server API with bearer tokens. Internal listener (default :4003): mutual TLS with client certificates from the platform CA. See docs/server.md.");
            w.WriteEndObject();
            w.WriteStartObject("paths");
            foreach (var group in Ops.GroupBy(o => o.Path))
            {
                w.WriteStartObject(group.Key);
                foreach (var op in group)
                {
                    w.WriteStartObject(op.Method);
                    w.WriteString("summary", op.Summary);
                    w.WriteString("x-weft-auth", op.Security);
                    var parameters = new List<string>();
                    if (op.Path.Contains("{version}")) parameters.Add("version");
                    if (op.Path.Contains("{cellId}")) parameters.Add("cellId");
                    if (parameters.Count > 0)
                    {
                        w.WriteStartArray("parameters");
                        foreach (var p in parameters)
                        {
                            w.WriteStartObject();
                            w.WriteString("name", p);
                            w.WriteString("in", "path");
                            w.WriteBoolean("required", true);
                            w.WriteStartObject("schema");
                            w.WriteString("type", "string");
                            if (p == "version") { w.WriteStartArray("enum"); w.WriteStringValue("v1"); w.WriteStringValue("v0"); w.WriteEndArray(); }
                            w.WriteEndObject();
                            w.WriteEndObject();
                        }
                        w.WriteEndArray();
                    }
                    if (op.Security is Token or Admin or TokenOrMtls)
                    {
                        w.WriteStartArray("security");
                        w.WriteStartObject();
                        w.WriteStartArray("bearer");
                        w.WriteEndArray();
                        w.WriteEndObject();
                        w.WriteEndArray();
                    }
                    if (op.Request is not null)
                    {
                        w.WriteStartObject("requestBody");
                        w.WriteStartObject("content");
                        w.WriteStartObject("application/json");
                        w.WriteStartObject("schema");
                        w.WriteString("$ref", "#/components/schemas/" + op.Request);
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndObject();
                    }
                    w.WriteStartObject("responses");
                    w.WriteStartObject("200");
                    w.WriteString("description", "OK");
                    if (op.Response is not ("empty" or "text" or "integer" or "object"))
                    {
                        w.WriteStartObject("content");
                        w.WriteStartObject("application/json");
                        w.WriteStartObject("schema");
                        w.WriteString("$ref", "#/components/schemas/" + op.Response);
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                    foreach (var code in op.Errors)
                    {
                        w.WriteStartObject(code.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        w.WriteString("description", "{\"error\": \"...\"}");
                        w.WriteStartObject("content");
                        w.WriteStartObject("application/json");
                        w.WriteStartObject("schema");
                        w.WriteString("$ref", "#/components/schemas/Error");
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartObject("components");
            w.WriteStartObject("securitySchemes");
            w.WriteStartObject("bearer");
            w.WriteString("type", "http");
            w.WriteString("scheme", "bearer");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("schemas");
            foreach (var (name, json) in Schemas)
            {
                w.WritePropertyName(name);
                using var doc = JsonDocument.Parse(json);
                doc.RootElement.WriteTo(w);
            }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }
}
