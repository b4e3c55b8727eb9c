using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Weft.Cli;

/// <summary>A named network namespace could not be entered.</summary>
public sealed class NetnsException(string message, int errno) : Exception(message)
{
    public int Errno { get; } = errno;
}

/// <summary>
/// Opens a socket inside a named network namespace (/run/netns/NAME). The socket stays in that
/// namespace for its whole life and can be used from any thread; the calling thread's namespace
/// is not changed (the work happens on a short-lived dedicated thread).
/// </summary>
public static partial class NetnsSockets
{
    private const int CLONE_NEWNET = 0x40000000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    public static Socket Open(string netns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { socket = OpenOnThisThread(netns, family, type, protocol); }
            catch (Exception e) { error = e; }
        }) { IsBackground = true, Name = "weft-netns" };
        thread.Start();
        thread.Join();
        if (error is not null) throw error;
        return socket!;
    }

    private static Socket OpenOnThisThread(string netns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        var path = netns.StartsWith('/') ? netns : "/run/netns/" + netns;
        using var target = OpenNs(path);
        using var home = OpenNs("/proc/thread-self/ns/net");
        if (setns((int)target.DangerousGetHandle(), CLONE_NEWNET) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetnsException($"cannot enter network namespace {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        try
        {
            return new Socket(family, type, protocol);
        }
        finally
        {
            if (setns((int)home.DangerousGetHandle(), CLONE_NEWNET) != 0)
                Environment.FailFast("weft: cannot return to the original network namespace");
        }
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle OpenNs(string path)
    {
        try { return File.OpenHandle(path, FileMode.Open, FileAccess.Read); }
        catch (FileNotFoundException) { throw new NetnsException($"network namespace {path} does not exist", 2); }
        catch (DirectoryNotFoundException) { throw new NetnsException($"network namespace {path} does not exist", 2); }
        catch (UnauthorizedAccessException) { throw new NetnsException($"no permission to open {path} (run as root)", 13); }
    }
}
