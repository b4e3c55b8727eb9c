using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Weft.Server.Security;

/// <summary>The platform CA and the certificates it issues (ECDSA P-256, PEM files).</summary>
public static class Certificates
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>A self-signed CA valid for 10 years.</summary>
    public static X509Certificate2 CreateCa(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return req.CreateSelfSigned(now.AddHours(-1), now.AddYears(10));
    }

    /// <summary>A leaf issued by <paramref name="ca"/>: a server certificate (with SANs) or a client certificate.</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, string commonName, bool server, IEnumerable<string> dnsNames, IEnumerable<IPAddress> ips,
        int years = 5)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? ServerAuth : ClientAuth)], false));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var san = new SubjectAlternativeNameBuilder();
        var any = false;
        foreach (var d in dnsNames) { san.AddDnsName(d); any = true; }
        foreach (var ip in ips) { san.AddIpAddress(ip); any = true; }
        if (any) req.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        var now = DateTimeOffset.UtcNow;
        var notAfter = now.AddYears(years);
        if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
        using var issued = req.Create(ca, now.AddHours(-1), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    public static void WritePem(X509Certificate2 cert, string certPath, string keyPath)
    {
        File.WriteAllText(certPath, cert.ExportCertificatePem() + "\n");
        using var key = cert.GetECDsaPrivateKey() ?? throw new InvalidOperationException("certificate has no ECDSA private key");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public static X509Certificate2 LoadPem(string certPath, string keyPath) => X509Certificate2.CreateFromPemFile(certPath, keyPath);

    public static X509Certificate2 LoadCertificate(string certPath) => X509Certificate2.CreateFromPem(File.ReadAllText(certPath));

    /// <summary>A chain policy that trusts only <paramref name="ca"/> and requires the client-authentication usage.</summary>
    public static X509ChainPolicy ClientChainPolicy(X509Certificate2 ca) => Policy(ca, ClientAuth);

    /// <summary>A chain policy that trusts only <paramref name="ca"/> and requires the server-authentication usage.</summary>
    public static X509ChainPolicy ServerChainPolicy(X509Certificate2 ca) => Policy(ca, ServerAuth);

    private static X509ChainPolicy Policy(X509Certificate2 ca, string usage)
    {
        var p = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        p.CustomTrustStore.Add(ca);
        p.ApplicationPolicy.Add(new Oid(usage));
        return p;
    }

    /// <summary>
    /// For TLS validation callbacks whose chain was built with <see cref="ClientChainPolicy"/> or
    /// <see cref="ServerChainPolicy"/>: no errors (other than a name mismatch for clients that
    /// connect by IP) and the chain ends at <paramref name="ca"/>.
    /// </summary>
    public static bool IsTrustedByPolicy(X509Chain? chain, System.Net.Security.SslPolicyErrors errors, X509Certificate2 ca, bool ignoreName = false)
    {
        if (ignoreName) errors &= ~System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch;
        if (errors != System.Net.Security.SslPolicyErrors.None || chain is null || chain.ChainElements.Count == 0) return false;
        return chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
    }

    /// <summary>
    /// TLS client options for the internal API: present <paramref name="clientCert"/> and trust only
    /// server certificates issued by <paramref name="ca"/> (what an agent needs).
    /// </summary>
    public static System.Net.Security.SslClientAuthenticationOptions InternalClientOptions(X509Certificate2 clientCert, X509Certificate2 ca) => new()
    {
        ClientCertificates = [clientCert],
        CertificateChainPolicy = ServerChainPolicy(ca),
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, _, chain, errors) => IsTrustedByPolicy(chain, errors, ca),
    };

    /// <summary>True when <paramref name="cert"/> chains to <paramref name="ca"/> (and only to it), is in its validity period and allows client authentication.</summary>
    public static bool IsClientIssuedBy(X509Certificate2 cert, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuth));
        if (!chain.Build(cert)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
    }

    /// <summary>True when a server certificate chains to <paramref name="ca"/> (for clients of the internal API).</summary>
    public static bool IsServerIssuedBy(X509Certificate2 cert, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuth));
        if (!chain.Build(cert)) return false;
        return chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
    }
}
