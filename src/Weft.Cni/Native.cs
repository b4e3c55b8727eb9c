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

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint pwrite(int fd, byte* buf, nint count, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rename(string from, string to);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int fstat(int fd, long* buf);

    /// <summary>The size of an open file (struct stat's st_size, at byte 48 on x86_64); -1 on error.</summary>
    public static long FileSize(int fd)
    {
        var buf = stackalloc long[18];
        return fstat(fd, buf) == 0 ? buf[6] : -1;
    }

    /// <summary>The modification time of an open file in nanoseconds since the epoch (st_mtim at byte 88); 0 on error.</summary>
    public static long ModifiedNanoseconds(int fd)
    {
        var buf = stackalloc long[18];
        return fstat(fd, buf) == 0 ? (buf[11] * 1_000_000_000) + buf[12] : 0;
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends; the number of bytes read, -1 on error (errno).</summary>
    public static int ReadFully(int fd, Span<byte> buffer)
    {
        var length = 0;
        fixed (byte* p = buffer)
        {
            while (length < buffer.Length)
            {
                var n = read(fd, p + length, buffer.Length - length);
                if (n > 0)
                {
                    length += (int)n;
                }
                else if (n == 0)
                {
                    break;
                }
                else if (Errno != EINTR)
                {
                    return -1;
                }
            }
        }

        return length;
    }

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    public const int O_WRONLY = 1;
    public const int O_TRUNC = 0x200;
    public const int ENOENT = 2;

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> (or at the file position when negative); false on error.</summary>
    public static bool WriteAll(int fd, ReadOnlySpan<byte> data, long offset = -1)
    {
        while (data.Length > 0)
        {
            nint n;
            fixed (byte* p = data)
            {
                n = offset >= 0 ? pwrite(fd, p, data.Length, offset) : write(fd, p, data.Length);
            }

            if (n < 0)
            {
                if (Errno == EINTR)
                {
                    continue;
                }

                return false;
            }

            data = data[(int)n..];
            if (offset >= 0)
            {
                offset += n;
            }
        }

        return true;
    }

    /// <summary>Reads a whole (small) file; null when it does not exist; throws <see cref="IOException"/> on other errors.</summary>
    public static byte[]? ReadFile(string path, int sizeHint = 4096)
    {
        var fd = open(path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            var e = Errno;
            return e == ENOENT ? null : throw new IOException($"open {path}: errno {e}");
        }

        try
        {
            var buffer = new byte[sizeHint];
            var length = 0;
            while (true)
            {
                var n = ReadFully(fd, buffer.AsSpan(length));
                if (n < 0)
                {
                    throw new IOException($"read {path}: errno {Errno}");
                }

                length += n;
                if (length < buffer.Length)
                {
                    return buffer.AsSpan(0, length).ToArray(); // not buffer[..length]: RuntimeHelpers.GetSubArray brings reflection and NativeAOT's type loader into the binary
                }

                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
        finally
        {
            close(fd);
        }
    }

    public static int Errno => Marshal.GetLastPInvokeError();
}
