using System.Text;

namespace Weft.Cni.Tests;

/// <summary>A throwaway state + data directory pair for one test.</summary>
public sealed class TestDirs : IDisposable
{
    public TestDirs()
    {
        Root = Directory.CreateTempSubdirectory("weft-cni-test-").FullName;
        StateDir = Path.Combine(Root, "state");
        DataDir = Path.Combine(Root, "data");
        Directory.CreateDirectory(StateDir);
        Directory.CreateDirectory(DataDir);
    }

    public string Root { get; }

    public string StateDir { get; }

    public string DataDir { get; }

    public void WriteLease(string subnet = "10.255.12.0/24", int mtu = 1400) =>
        File.WriteAllText(Path.Combine(StateDir, "lease.json"),
            $$"""{"subnet":"{{subnet}}","mtu":{{mtu}},"overlay":"10.255.0.0/16","underlayIp":"198.18.0.11","vtep":"weft-vtep"}""");

    /// <summary>A config naming these directories; <paramref name="extra"/> is spliced in (",\"k\":v").</summary>
    public byte[] Config(string version = "1.1.0", string? subnet = null, string extra = "")
    {
        var subnetPart = subnet is null ? "" : $",\"subnet\":\"{subnet}\",\"mtu\":1400";
        return Encoding.UTF8.GetBytes(
            $"{{\"cniVersion\":\"{version}\",\"name\":\"weft\",\"type\":\"weft-cni\",\"stateDir\":\"{StateDir}\",\"dataDir\":\"{DataDir}\"{subnetPart}{extra}}}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
