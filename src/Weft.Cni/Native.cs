using System.Runtime.InteropServices;

namespace Weft.Cni;

/// <summary>The few libc calls the plugin's file store and agent notification need (not netlink: that is Weft.Linux).</summary>
internal static unsafe partial class Native
{
    private const string Lib = "libc";

    public const int O_RDONLY = 0;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_UN = 8;
    public const int EINTR = 4;

    public const int AF_UNIX = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrUn
    {
        public ushort sun_family;
        public fixed byte sun_path[108];
    }

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int flock(int fd, int operation);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint sendto(int fd, byte* buf, nuint len, int flags, SockaddrUn* addr, uint addrlen);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statfs(string path, long* buf);

    public static int Errno => Marshal.GetLastPInvokeError();
}
