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
        return Invoke(ns, () => File.ReadAllText(path).TrimEnd('\n'), $"sysctl {key}");
    }

    /// <summary>Writes a value.</summary>
    /// <remarks>Equivalent to: ip netns exec NS sysctl -w KEY=VALUE</remarks>
    public static void Write(NetNs? ns, string key, string value)
    {
        string path = PathOf(key);
        Invoke(ns, () =>
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
            var bytes = System.Text.Encoding.ASCII.GetBytes(value + "\n");
            f.Write(bytes);
            return 0;
        }, $"sysctl -w {key}={value}");
    }

    private static T Invoke<T>(NetNs? ns, Func<T> f, string op)
    {
        try
        {
            return ns is null ? f() : ns.Run(f);
        }
        catch (FileNotFoundException)
        {
            throw new KernelException(Errno.ENOENT, op);
        }
        catch (DirectoryNotFoundException)
        {
            throw new KernelException(Errno.ENOENT, op);
        }
        catch (UnauthorizedAccessException)
        {
            throw new KernelException(Errno.EACCES, op);
        }
        catch (IOException e) when (e.HResult is > 0 and < 4096)
        {
            throw new KernelException(e.HResult, op);
        }
    }

    private static string PathOf(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Contains("..", StringComparison.Ordinal)) throw new ArgumentException($"invalid sysctl key '{key}'", nameof(key));
        string rel = key.Contains('/') ? key.Trim('/') : key.Replace('.', '/');
        return "/proc/sys/" + rel;
    }
}
