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
    stdin = Stdio.ReadStdin();
    CniTrace.Mark("stdin read");
    version = NetConf.PeekVersion(stdin) is { } v && CniVersion.IsSupported(v) ? v : CniVersion.Current;
    var request = CniRequest.FromEnvironment(Environment.GetEnvironmentVariable);
    var output = new CniPlugin(new LinuxAttachmentDriver
    {
        BackgroundReaper = index => Environment.ProcessPath is { } self && Detached.Spawn(self, [$"WEFT_CNI_REAP={index}"]),
    }).Execute(request, stdin);
    Stdio.WriteStdout(output);

    return 0;
}
catch (Exception e)
{
    var (code, msg, details) = Errors.Map(e);
    Stdio.WriteStdout(CniOutput.Error(version, code, msg, details));
    return 1;
}

/// <summary>
/// stdin and stdout with read(2)/write(2): System.Console would start a signal-handling thread and probe the
/// terminal, which a plugin that runs on every container start does not need.
/// </summary>
internal static unsafe partial class Stdio
{
    public static byte[] ReadStdin()
    {
        var buffer = new byte[16384];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }

            nint n;
            fixed (byte* p = &buffer[length])
            {
                n = read(0, p, buffer.Length - length);
            }

            if (n > 0)
            {
                length += (int)n;
            }
            else if (n == 0 || System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != 4 /* EINTR */)
            {
                return buffer[..length];
            }
        }
    }

    public static void WriteStdout(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            nint n;
            fixed (byte* p = data)
            {
                n = write(1, p, data.Length);
            }

            if (n > 0)
            {
                data = data[(int)n..];
            }
            else if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != 4 /* EINTR */)
            {
                return;
            }
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nint count);

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buf, nint count);
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
