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

byte[] stdin = [];
var detachedLinks = new List<int>();
var exitCode = 0;
try
{
    stdin = Stdio.ReadStdin();
    CniTrace.Mark("stdin read");
    var request = CniRequest.FromEnvironment(Environment.GetEnvironmentVariable);
    var output = new CniPlugin(new LinuxAttachmentDriver
    {
        // DEL leaves the veth's deletion to a detached weft-cni, started after the answer is out (below).
        BackgroundReaper = index =>
        {
            detachedLinks.Add(index);
            return true;
        },
    }).Execute(request, stdin);
    Stdio.WriteStdout(output);
}
catch (Exception e)
{
    // The error speaks the config's version when it is a known one (looked at only here: a second parse of
    // the config on every successful run would cost more than the rest of the config handling).
    var version = NetConf.PeekVersion(stdin) is { } v && CniVersion.IsSupported(v) ? v : CniVersion.Current;
    var (code, msg, details) = Errors.Map(e);
    Stdio.WriteStdout(CniOutput.Error(version, code, msg, details));
    exitCode = 1;
}
finally
{
    if (detachedLinks.Count > 0)
    {
        // Our stdout and stderr are the runtime's pipes: let go of them first, so neither the runtime nor the
        // child holds them; then start the child, which deletes the links while we exit.
        Stdio.DetachFromRuntime();
        foreach (var index in detachedLinks)
        {
            try
            {
                if (!Detached.Spawn("/proc/self/exe", [$"WEFT_CNI_REAP={index}"]))
                {
                    new LinuxAttachmentDriver().DeleteDetached(index);
                }
            }
            catch (Exception)
            {
                // The container is disconnected already; GC deletes what is left.
            }
        }
    }
}

// Everything is said and written (with write(2): nothing is buffered). Leave at once, without the runtime's
// shutdown: after a fork (DEL) every page this process still writes is copied, and nothing needs cleaning up.
Stdio.Exit(exitCode);
return exitCode;

/// <summary>
/// stdin and stdout with read(2)/write(2): System.Console would start a signal-handling thread and probe the
/// terminal, which a plugin that runs on every container start does not need.
/// </summary>
internal static unsafe partial class Stdio
{
    public static byte[] ReadStdin()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(16384); // only what read() fills is used
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
                return buffer.AsSpan(0, length).ToArray(); // not buffer[..length]: RuntimeHelpers.GetSubArray brings reflection and NativeAOT's type loader into the binary
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

    /// <summary>Points stdin, stdout and stderr at /dev/null (the runtime sees EOF on its pipes at once).</summary>
    public static void DetachFromRuntime()
    {
        var fd = open("/dev/null", 2 /* O_RDWR */);
        if (fd >= 0)
        {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nint count);

    [System.Runtime.InteropServices.LibraryImport("libc", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial int dup2(int from, int to);

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial int close(int fd);

    /// <summary>Ends the process now (_exit(2)): no runtime shutdown.</summary>
    public static void Exit(int code) => _exit(code);

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial void _exit(int code);

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
