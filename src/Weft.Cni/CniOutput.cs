using System.Buffers;
using System.Text.Json;

namespace Weft.Cni;

/// <summary>The JSON weft-cni writes on stdout: results, VERSION answers and errors (CNI 1.1.0 §"Result Types").</summary>
public static class CniOutput
{
    private static readonly JsonWriterOptions Options = new() { Indented = false, Encoder = JsonEscaping.Minimal };

    /// <summary><c>{"cniVersion":…,"code":…,"msg":…,"details":…}</c>.</summary>
    public static byte[] Error(string cniVersion, int code, string msg, string? details)
    {
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("cniVersion", cniVersion);
            w.WriteNumber("code", code);
            w.WriteString("msg", msg);
            if (!string.IsNullOrEmpty(details))
            {
                w.WriteString("details", details);
            }

            w.WriteEndObject();
        });
    }

    /// <summary><c>{"cniVersion":"1.1.0","supportedVersions":[…]}</c>.</summary>
    public static byte[] Version(string cniVersion)
    {
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("cniVersion", cniVersion);
            w.WriteStartArray("supportedVersions");
            foreach (var v in CniVersion.Supported)
            {
                w.WriteStringValue(v);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// ADD's result: the previous result's interfaces, IPs, routes and DNS (in a chain), then the host veth,
    /// the container interface, the container's IP/32 via 169.254.0.1 and a default route.
    /// </summary>
    public static byte[] AddResult(string cniVersion, string? prevResult, AttachmentSpec spec)
    {
        JsonDocument? prev = null;
        try
        {
            if (prevResult is not null)
            {
                prev = JsonDocument.Parse(prevResult);
            }

            var prevRoot = prev?.RootElement;
            return Write(w =>
            {
                w.WriteStartObject();
                w.WriteString("cniVersion", cniVersion);
                var withMtu = CniVersion.HasStatusAndGc(cniVersion);
                w.WriteStartArray("interfaces");
                var prevInterfaces = CopyArray(w, prevRoot, "interfaces");
                w.WriteStartObject();
                w.WriteString("name", spec.HostVeth);
                w.WriteString("mac", Naming.FormatMac(Naming.HostMac(spec.Ip)));
                if (withMtu)
                {
                    w.WriteNumber("mtu", spec.Mtu);
                }

                w.WriteEndObject();
                w.WriteStartObject();
                w.WriteString("name", spec.IfName);
                w.WriteString("mac", Naming.FormatMac(Naming.ContainerMac(spec.Ip)));
                if (withMtu)
                {
                    w.WriteNumber("mtu", spec.Mtu);
                }

                w.WriteString("sandbox", spec.Netns);
                w.WriteEndObject();
                w.WriteEndArray();

                w.WriteStartArray("ips");
                CopyArray(w, prevRoot, "ips");
                w.WriteStartObject();
                if (CniVersion.ResultHasIpVersion(cniVersion))
                {
                    w.WriteString("version", "4");
                }

                w.WriteString("address", $"{spec.Ip}/32");
                w.WriteString("gateway", Naming.HostSideIp.ToString());
                w.WriteNumber("interface", prevInterfaces + 1);
                w.WriteEndObject();
                w.WriteEndArray();

                w.WriteStartArray("routes");
                CopyArray(w, prevRoot, "routes");
                w.WriteStartObject();
                w.WriteString("dst", "0.0.0.0/0");
                w.WriteString("gw", Naming.HostSideIp.ToString());
                w.WriteEndObject();
                w.WriteEndArray();

                w.WritePropertyName("dns");
                if (prevRoot is { } p && p.TryGetProperty("dns", out var dns) && dns.ValueKind == JsonValueKind.Object)
                {
                    dns.WriteTo(w);
                }
                else
                {
                    w.WriteStartObject();
                    w.WriteEndObject();
                }

                w.WriteEndObject();
            });
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "prevResult is not valid JSON", e.Message);
        }
        finally
        {
            prev?.Dispose();
        }
    }

    private static int CopyArray(Utf8JsonWriter w, JsonElement? root, string name)
    {
        if (root is not { } r || !r.TryGetProperty(name, out var a) || a.ValueKind != JsonValueKind.Array)
        {
            return 0;
        }

        var n = 0;
        foreach (var e in a.EnumerateArray())
        {
            e.WriteTo(w);
            n++;
        }

        return n;
    }

    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            write(w);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
