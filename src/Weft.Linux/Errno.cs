namespace Weft.Linux;

/// <summary>Linux errno values that callers of Weft.Linux test (x86_64 / generic numbering).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int EOPNOTSUPP = 95;
    public const int EAFNOSUPPORT = 97;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETUNREACH = 101;
    public const int ENOBUFS = 105;
    public const int EHOSTUNREACH = 113;

    /// <summary>The symbolic name of an errno ("EEXIST"), or the number when unknown.</summary>
    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM", ENOENT => "ENOENT", ESRCH => "ESRCH", EINTR => "EINTR", EIO => "EIO",
        EBADF => "EBADF", EAGAIN => "EAGAIN", ENOMEM => "ENOMEM", EACCES => "EACCES", EBUSY => "EBUSY",
        EEXIST => "EEXIST", ENODEV => "ENODEV", ENOTDIR => "ENOTDIR", EINVAL => "EINVAL", ENOSPC => "ENOSPC",
        ERANGE => "ERANGE", EOPNOTSUPP => "EOPNOTSUPP", EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE", EADDRNOTAVAIL => "EADDRNOTAVAIL", ENETUNREACH => "ENETUNREACH",
        ENOBUFS => "ENOBUFS", EHOSTUNREACH => "EHOSTUNREACH",
        _ => errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The C library's description of an errno ("File exists").</summary>
    public static string Describe(int errno) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
}

/// <summary>A failed kernel call (netlink request, syscall). Callers test <see cref="Errno"/>, never the message.</summary>
public class KernelException : Exception
{
    public KernelException(int errno, string operation, string? detail = null)
        : base(Format(errno, operation, detail))
    {
        Errno = errno;
        Operation = operation;
        Detail = detail;
    }

    /// <summary>The positive errno (e.g. <see cref="Linux.Errno.EEXIST"/>).</summary>
    public int Errno { get; }

    /// <summary>What was attempted, e.g. "ip link add veth0 type veth".</summary>
    public string Operation { get; }

    /// <summary>The kernel's extended-ack message, when it sent one.</summary>
    public string? Detail { get; }

    /// <summary>
    /// The object does not exist. The kernel's errno depends on the object: ENODEV for links, ESRCH
    /// for routes, EADDRNOTAVAIL for addresses, ENOENT for neighbours, FDB entries and namespaces.
    /// Use this for idempotent deletes.
    /// </summary>
    public bool IsNotFound => Errno is Linux.Errno.ENOENT or Linux.Errno.ENODEV or Linux.Errno.ESRCH or Linux.Errno.EADDRNOTAVAIL;

    /// <summary>The object already exists (EEXIST).</summary>
    public bool IsAlreadyExists => Errno == Linux.Errno.EEXIST;

    private static string Format(int errno, string operation, string? detail) =>
        $"{operation}: {Linux.Errno.Name(errno)} ({Linux.Errno.Describe(errno)})" + (detail is null ? "" : $": {detail}");

    internal static KernelException FromLastError(string operation) =>
        new(Native.Libc.Errno, operation);
}

/// <summary>A netlink request the kernel answered with an error (NLMSG_ERROR with a negative code).</summary>
public sealed class NetlinkException : KernelException
{
    public NetlinkException(int errno, string operation, string? detail = null) : base(errno, operation, detail) { }
}
