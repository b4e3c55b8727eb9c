using System.Text.Json;

namespace Weft.Cni;

/// <summary>
/// The cell's lease as the agent publishes it in <c>&lt;stateDir&gt;/lease.json</c> (docs/cell-state.md).
/// The plugin needs only the subnet and the MTU.
/// </summary>
public sealed record Lease(Ipv4Subnet Subnet, int Mtu)
{
    public const string FileName = "lease.json";

    /// <summary>Reads the lease, or null when the agent has not written one (no lease yet).</summary>
    /// <exception cref="CniException">5 when the file exists but cannot be read or parsed.</exception>
    public static Lease? Read(string stateDir)
    {
        var path = Path.Combine(stateDir, FileName);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (IOException e)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot read the agent's lease {path}", e.Message);
        }

        try
        {
            return Parse(bytes);
        }
        catch (Exception e) when (e is JsonException or FormatException or CniException or InvalidOperationException)
        {
            throw new CniException(CniErrorCode.IoFailure, $"the agent's lease {path} is not valid", e.Message);
        }
    }

    public static Lease Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var subnet = Ipv4Subnet.Parse(NetConf.String(doc.RootElement, "subnet") ?? throw new FormatException("no subnet"));
        var mtu = NetConf.Int(doc.RootElement, "mtu") ?? 1450;
        return new Lease(subnet, mtu);
    }
}
