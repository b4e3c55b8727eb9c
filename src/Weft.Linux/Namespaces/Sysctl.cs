using Weft.Linux.Native;

namespace Weft.Linux;

/// <summary>
/// sysctl inside a network namespace. /proc/sys/net is bound to the network namespace of the thread
/// that opens the file, so the file is opened on a thread inside <c>ns</c> (via <see cref="NetNs.Run{T}"/>).
/// Keys use slashes or dots: "net/ipv4/ip_forward" or "net.ipv4.ip_forward".
/// </summary>
public static class Sysctl
{
    /// <summary>Reads a value (trailing newline removed).</summary>
    /// <remarks>Equivalent to: ip netns exec NS sysctl -n KEY</remarks>
    public static string Read(NetNs? ns, string key)
    {
        string path = PathOf(key);
        return ns is null ? ReadHere(path, key) : ns.Run(() => ReadHere(path, key));
    }

    /// <summary>Writes a value.</summary>
    /// <remarks>Equivalent to: ip netns exec NS sysctl -w KEY=VALUE</remarks>
    public static void Write(NetNs? ns, string key, string value)
    {
        string path = PathOf(key);
        if (ns is null) WriteHere(path, key, value);
        else ns.Run(() => { WriteHere(path, key, value); return 0; });
    }

    // open/read/write/close directly: a sysctl file needs none of FileStream's buffering, locking and seeking.
    private static unsafe string ReadHere(string path, string key)
    {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw KernelException.FromLastError($"sysctl {key}");
        try
        {
            var buffer = GC.AllocateUninitializedArray<byte>(4096); // only what read() fills is used
            int length = 0;
            while (length < buffer.Length)
            {
                nint n;
                fixed (byte* p = &buffer[length]) n = Libc.read(fd, p, buffer.Length - length);
                if (n > 0) length += (int)n;
                else if (n == 0) break;
                else if (Libc.Errno != Errno.EINTR) throw KernelException.FromLastError($"sysctl {key}");
            }
            return System.Text.Encoding.ASCII.GetString(buffer, 0, length).TrimEnd('\n');
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private static unsafe void WriteHere(string path, string key, string value)
    {
        string op = $"sysctl -w {key}={value}";
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw KernelException.FromLastError(op);
        try
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes(value + "\n");
            while (true)
            {
                nint n;
                fixed (byte* p = bytes) n = Libc.write(fd, p, bytes.Length);
                if (n == bytes.Length) return;
                if (n >= 0) throw new KernelException(Errno.EIO, op, $"short write ({n} of {bytes.Length} bytes)");
                if (Libc.Errno != Errno.EINTR) throw KernelException.FromLastError(op);
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private static string PathOf(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Contains("..", StringComparison.Ordinal)) throw new ArgumentException($"invalid sysctl key '{key}'", nameof(key));
        string rel = key.Contains('/') ? key.Trim('/') : key.Replace('.', '/');
        return "/proc/sys/" + rel;
    }
}
