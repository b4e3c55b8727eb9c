// weft-cni: the CNI plugin executable. It only wires: CNI environment + stdin -> Weft.Cni -> stdout,
// and maps every exception to CNI error JSON here, in one place.
using Weft.Cni;

CniTrace.Mark("main");

// The background half of a DEL (see LinuxAttachmentDriver.BackgroundReaper): delete one detached host veth.
if (int.TryParse(Environment.GetEnvironmentVariable("WEFT_CNI_REAP"), out var detachedIndex))
{
    try
    {
        new LinuxAttachmentDriver().DeleteDetached(detachedIndex);
        return 0;
    }
    catch (Exception)
    {
        return 1; // GC deletes what is left
    }
}

var version = CniVersion.Current;
byte[] stdin = [];
try
{
    stdin = ReadStdin();
    CniTrace.Mark("stdin read");
    version = NetConf.PeekVersion(stdin) is { } v && CniVersion.IsSupported(v) ? v : CniVersion.Current;
    var request = CniRequest.FromEnvironment(Environment.GetEnvironmentVariable);
    var output = new CniPlugin(new LinuxAttachmentDriver
    {
        BackgroundReaper = index => Environment.ProcessPath is { } self && Detached.Spawn(self, [$"WEFT_CNI_REAP={index}"]),
    }).Execute(request, stdin);
    if (output.Length > 0)
    {
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(output);
    }

    return 0;
}
catch (Exception e)
{
    var (code, msg, details) = Errors.Map(e);
    using var stdout = Console.OpenStandardOutput();
    stdout.Write(CniOutput.Error(version, code, msg, details));
    return 1;
}

static byte[] ReadStdin()
{
    using var input = Console.OpenStandardInput();
    using var ms = new MemoryStream();
    input.CopyTo(ms);
    return ms.ToArray();
}

internal static class Errors
{
    /// <summary>Every failure's CNI code, message and details (docs/cni.md lists them).</summary>
    public static (int Code, string Msg, string? Details) Map(Exception e) => e switch
    {
        CniException c => (c.Code, c.Message, c.Details),
        Weft.Linux.KernelException k => (CniErrorCode.KernelError, $"kernel call failed: {k.Operation}",
            $"errno {k.Errno} ({Weft.Linux.Errno.Name(k.Errno)}): {k.Message}"),
        IOException io => (CniErrorCode.IoFailure, "I/O failure", io.Message),
        UnauthorizedAccessException ua => (CniErrorCode.IoFailure, "permission denied", ua.Message),
        _ => (CniErrorCode.Internal, "internal error in weft-cni", e.ToString()),
    };
}
