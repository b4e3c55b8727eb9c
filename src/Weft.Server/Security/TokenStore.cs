using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Weft.Server.Security;

/// <summary>One entry of the token file: the SHA-256 of a bearer token, its subject and scopes.</summary>
public sealed class TokenEntry
{
    public string Subject { get; set; } = "";
    public List<string> Scopes { get; set; } = [];
    public string Sha256 { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class TokenFile
{
    public List<TokenEntry> Tokens { get; set; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(TokenFile))]
internal sealed partial class TokenJsonContext : JsonSerializerContext;

/// <summary>The identity behind a valid token.</summary>
public sealed record TokenIdentity(string Subject, IReadOnlyList<string> Scopes)
{
    public bool IsAdmin => Scopes.Contains(AuthScopes.Admin);
}

public static class AuthScopes
{
    public const string Admin = "network.admin";
    public const string Write = "network.write";
    public static readonly string[] Known = [Admin, Write];
}

/// <summary>
/// Bearer tokens, stored hashed (SHA-256; tokens are 32 random bytes, so a plain hash is enough)
/// in a JSON file the operator manages with <c>weft-server token ...</c>. The file is re-read when
/// it changes, so adding or removing a token needs no restart.
/// </summary>
public sealed class TokenStore
{
    private readonly string _path;
    private Dictionary<string, TokenIdentity> _byHash = new(StringComparer.Ordinal);
    private DateTime _loadedStamp = DateTime.MinValue;
    private long _checkedAtTicks;
    private readonly Lock _lock = new();

    public TokenStore(string path)
    {
        _path = path;
        Reload();
    }

    public string Path => _path;

    /// <summary>The identity of <paramref name="token"/>, or null when it is unknown.</summary>
    public TokenIdentity? Find(string token)
    {
        ReloadIfChanged();
        return _byHash.GetValueOrDefault(Hash(token));
    }

    private void ReloadIfChanged()
    {
        var now = Environment.TickCount64;
        if (now - Volatile.Read(ref _checkedAtTicks) < 1000) return;
        Volatile.Write(ref _checkedAtTicks, now);
        var stamp = File.Exists(_path) ? File.GetLastWriteTimeUtc(_path) : DateTime.MinValue;
        if (stamp != _loadedStamp) Reload();
    }

    private void Reload()
    {
        lock (_lock)
        {
            var stamp = File.Exists(_path) ? File.GetLastWriteTimeUtc(_path) : DateTime.MinValue;
            var file = Read(_path);
            _byHash = file.Tokens.Where(t => t.Sha256.Length > 0)
                .GroupBy(t => t.Sha256.ToLowerInvariant())
                .ToDictionary(g => g.Key, g => new TokenIdentity(g.First().Subject, g.First().Scopes), StringComparer.Ordinal);
            _loadedStamp = stamp;
        }
    }

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>A new random token: "weft_" + 43 base64url characters (32 bytes).</summary>
    public static string NewToken() =>
        "weft_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static TokenFile Read(string path)
    {
        if (!File.Exists(path)) return new TokenFile();
        using var s = File.OpenRead(path);
        return JsonSerializer.Deserialize(s, TokenJsonContext.Default.TokenFile) ?? new TokenFile();
    }

    /// <summary>Writes the file atomically (temp file + rename), mode 0600.</summary>
    public static void Write(string path, TokenFile file)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(file, TokenJsonContext.Default.TokenFile));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Adds a token for <paramref name="subject"/> and returns it (the only time it is visible).</summary>
    public static string Add(string path, string subject, IEnumerable<string> scopes)
    {
        var file = Read(path);
        var token = NewToken();
        file.Tokens.Add(new TokenEntry { Subject = subject, Scopes = scopes.Distinct().ToList(), Sha256 = Hash(token), CreatedAt = DateTimeOffset.UtcNow });
        Write(path, file);
        return token;
    }
}
