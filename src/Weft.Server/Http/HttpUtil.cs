using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Weft.Contracts;
using Weft.Server.Security;

namespace Weft.Server.Http;

internal static class HttpUtil
{
    /// <summary>CF's request body limit (http.MaxBytesReader in the auth middleware).</summary>
    public const int MaxBodyBytes = 10 << 20;

    /// <summary>
    /// Bodies above <see cref="MaxBodyBytes"/> but below this are read to the end and discarded so
    /// the client gets a clean 400; larger ones make Kestrel close the connection after the 400.
    /// </summary>
    public const int MaxDrainBytes = 64 << 20;

    /// <summary>Responses are written like Go's encoding/json: no escaping of quotes or apostrophes.</summary>
    public static readonly WeftJsonContext Out = new(new JsonSerializerOptions(WeftJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    public static readonly JsonWriterOptions WriterOptions = new()
    {
        SkipValidation = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public const string JsonContentType = "application/json";

    public static async Task WriteJsonAsync<T>(HttpContext ctx, int status, T value, JsonTypeInfo<T> type)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = JsonContentType;
        await JsonSerializer.SerializeAsync(ctx.Response.Body, value, type, ctx.RequestAborted);
    }

    public static async Task WriteBytesAsync(HttpContext ctx, int status, ReadOnlyMemory<byte> body, string contentType = JsonContentType)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = body.Length;
        await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted);
    }

    public static Task WriteEmptyObjectAsync(HttpContext ctx) => WriteBytesAsync(ctx, 200, "{}"u8.ToArray());

    /// <summary>CF's error envelope {"error": "..."}; 401 adds WWW-Authenticate: Bearer.</summary>
    public static Task ErrorAsync(HttpContext ctx, int status, string message)
    {
        if (status == 401) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        ctx.Items["weft.error"] = true;
        return WriteJsonAsync(ctx, status, new ErrorResponse { Error = message }, Out.ErrorResponse);
    }

    /// <summary>Reads the whole body up to 10 MB; null when it is larger or the read failed.</summary>
    public static async Task<byte[]?> ReadBodyAsync(HttpContext ctx)
    {
        try
        {
            if (ctx.Request.ContentLength > MaxDrainBytes) return null;
            using var ms = new MemoryStream();
            var buffer = new byte[64 * 1024];
            int n;
            long total = 0;
            while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
            {
                total += n;
                if (total <= MaxBodyBytes) ms.Write(buffer, 0, n);
            }
            return total > MaxBodyBytes ? null : ms.ToArray();
        }
        catch (BadHttpRequestException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Reads a JSON body into <typeparamref name="T"/>; writes the 400 and returns null on failure.</summary>
    public static async Task<T?> ReadJsonAsync<T>(HttpContext ctx, JsonTypeInfo<T> type, string unmarshalPrefix) where T : class
    {
        var body = await ReadBodyAsync(ctx);
        if (body is null)
        {
            await ErrorAsync(ctx, 400, "failed reading request body");
            return null;
        }
        try
        {
            var v = JsonSerializer.Deserialize(body, type);
            if (v is null) await ErrorAsync(ctx, 400, $"{unmarshalPrefix}: body is null");
            return v;
        }
        catch (JsonException e)
        {
            await ErrorAsync(ctx, 400, $"{unmarshalPrefix}: {e.Message}");
            return null;
        }
    }

    /// <summary>CF query parsing: only the first occurrence counts; comma-separated; present-but-empty means [""].</summary>
    public static string[]? QueryList(HttpContext ctx, string name)
    {
        if (!ctx.Request.Query.TryGetValue(name, out var v) || v.Count == 0) return null;
        return (v[0] ?? "").Split(',');
    }

    public static bool OnInternalListener(this HttpContext ctx, ServerContext s) =>
        ctx.Connection.LocalPort == s.InternalPort && ctx.Connection.ClientCertificate is not null;

    /// <summary>
    /// CF's authenticator: missing header → 401; unknown token → 401; scopes not allowed → 403.
    /// Writes the error and returns null, or returns the identity.
    /// </summary>
    public static async Task<TokenIdentity?> AuthenticateAsync(HttpContext ctx, ServerContext s, string[] allowedScopes)
    {
        if (!ctx.Request.Headers.TryGetValue("Authorization", out var values) || values.Count == 0)
        {
            await ErrorAsync(ctx, 401, "missing authorization header");
            return null;
        }
        var token = values[0] ?? "";
        if (token.StartsWith("Bearer ", StringComparison.Ordinal)) token = token["Bearer ".Length..];
        if (token.StartsWith("bearer ", StringComparison.Ordinal)) token = token["bearer ".Length..];
        var id = s.Tokens.Find(token);
        if (id is null)
        {
            await ErrorAsync(ctx, 401, "failed to verify token with uaa");
            return null;
        }
        if (!id.Scopes.Any(allowedScopes.Contains))
        {
            await ErrorAsync(ctx, 403, $"provided scopes [{string.Join(' ', id.Scopes)}] do not include allowed scopes [{string.Join(' ', allowedScopes)}]");
            return null;
        }
        ctx.Items["weft.subject"] = id.Subject;
        return id;
    }

    public static readonly string[] AdminOrWrite = [AuthScopes.Admin, AuthScopes.Write];
    public static readonly string[] AdminOnly = [AuthScopes.Admin];

    /// <summary>Go's time.Duration.String() (e.g. "1h2m3.5s", "150ms").</summary>
    public static string GoDuration(TimeSpan d)
    {
        var ns = d.Ticks * 100;
        if (ns == 0) return "0s";
        if (ns < 1_000) return $"{ns}ns";
        if (ns < 1_000_000) return $"{Trim(ns / 1_000.0)}µs";
        if (ns < 1_000_000_000) return $"{Trim(ns / 1_000_000.0)}ms";
        var sb = new System.Text.StringBuilder();
        var h = ns / 3_600_000_000_000;
        var m = ns / 60_000_000_000 % 60;
        var sec = ns % 60_000_000_000 / 1e9;
        if (h > 0) sb.Append(h).Append('h');
        if (h > 0 || m > 0) sb.Append(m).Append('m');
        sb.Append(Trim(sec)).Append('s');
        return sb.ToString();

        static string Trim(double v) => v.ToString("0.#########", System.Globalization.CultureInfo.InvariantCulture);
    }
}
