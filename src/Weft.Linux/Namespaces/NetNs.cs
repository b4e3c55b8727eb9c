using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Weft.Linux.Native;

namespace Weft.Linux;

/// <summary>
/// A network namespace, held open by a file descriptor (like the fd `ip netns exec` setns()es into).
/// <para>
/// Linux binds a network namespace to a thread, not a process: <c>setns</c> changes only the calling
/// OS thread. Code that must run inside a namespace therefore runs through <see cref="Run(Action)"/>
/// on a dedicated OS thread, synchronously (never on the thread pool, never across an await).
/// Sockets keep the namespace they were created in: <see cref="OpenSocket"/> and
/// <see cref="Netlink.Open(NetNs?)"/> create theirs inside the namespace once, and they can then be
/// used from any thread.
/// </para>
/// </summary>
public sealed class NetNs : IDisposable
{
    /// <summary>Where named namespaces live, as with iproute2.</summary>
    public const string RunDir = "/run/netns";

    private readonly FdHandle _fd;

    private NetNs(FdHandle fd, string path, string? name)
    {
        _fd = fd;
        Path = path;
        Name = name;
    }

    /// <summary>The path this handle was opened from (/run/netns/NAME, /proc/PID/ns/net, …).</summary>
    public string Path { get; }

    /// <summary>The name under /run/netns, when opened or created by name.</summary>
    public string? Name { get; }

    /// <summary>The namespace file descriptor (valid while this object is not disposed).</summary>
    public int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
            return _fd.Fd;
        }
    }

    /// <summary>
    /// Creates a named namespace exactly as <c>ip netns add NAME</c> does: /run/netns becomes a
    /// shared mount point (bind-mounted on itself first if needed), an empty file /run/netns/NAME is
    /// created, a dedicated thread unshare(CLONE_NEWNET)s and bind-mounts its own namespace onto the
    /// file, then exits. The namespace lives as long as the mount; <see cref="Delete"/> removes it.
    /// Throws <see cref="KernelException"/> with EEXIST when the name is taken.
    /// </summary>
    /// <remarks>Equivalent to: ip netns add NAME</remarks>
    public static NetNs Create(string name)
    {
        ValidateName(name);
        EnsureRunDir();
        string path = $"{RunDir}/{name}";
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new KernelException(Libc.Errno, $"ip netns add {name}", $"create {path}");
        Libc.close(fd);
        try
        {
            RunOnThread(() =>
            {
                if (Libc.unshare(Libc.CLONE_NEWNET) != 0) throw KernelException.FromLastError($"ip netns add {name}: unshare(CLONE_NEWNET)");
                string self = $"/proc/self/task/{Libc.gettid()}/ns/net";
                if (Libc.mount(self, path, "none", Libc.MS_BIND, 0) != 0)
                    throw KernelException.FromLastError($"ip netns add {name}: mount --bind {self} {path}");
                return 0;
            });
        }
        catch
        {
            Libc.unlink(path);
            throw;
        }
        return OpenByPath(path, name);
    }

    /// <summary>Opens /run/netns/NAME. Throws with ENOENT when there is no such namespace.</summary>
    public static NetNs OpenByName(string name)
    {
        ValidateName(name);
        return OpenByPath($"{RunDir}/{name}", name);
    }

    /// <summary>Opens the network namespace of process <paramref name="pid"/> (ESRCH-like ENOENT when it is gone).</summary>
    public static NetNs OpenByPid(int pid) => OpenByPath($"/proc/{pid}/ns/net");

    /// <summary>Opens the network namespace of the calling thread (/proc/thread-self/ns/net).</summary>
    public static NetNs OpenCurrent() => OpenByPath($"/proc/self/task/{Libc.gettid()}/ns/net");

    /// <summary>Opens a namespace file (a bind mount, /proc/PID/ns/net, /var/run/docker/netns/…).</summary>
    public static NetNs OpenByPath(string path) => OpenByPath(path, null);

    private static NetNs OpenByPath(string path, string? name)
    {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new KernelException(Libc.Errno, $"open netns {path}");
        return new NetNs(new FdHandle(fd), path, name);
    }

    /// <summary>Whether /run/netns/NAME exists.</summary>
    public static bool Exists(string name) => File.Exists($"{RunDir}/{name}");

    /// <summary>Names under /run/netns (what <c>ip netns list</c> shows).</summary>
    /// <remarks>Equivalent to: ip netns list</remarks>
    public static IReadOnlyList<string> List() =>
        Directory.Exists(RunDir) ? Directory.GetFiles(RunDir).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>
    /// Deletes a named namespace: lazy-unmounts /run/netns/NAME (MNT_DETACH) and removes the file.
    /// The namespace itself disappears when nothing else holds it (processes, open fds, sockets);
    /// its links are then destroyed by the kernel (veth peers elsewhere go with them).
    /// Throws with ENOENT when it does not exist.
    /// </summary>
    /// <remarks>Equivalent to: ip netns delete NAME</remarks>
    public static void Delete(string name)
    {
        if (!TryDelete(name)) throw new KernelException(Errno.ENOENT, $"ip netns delete {name}");
    }

    /// <summary>Like <see cref="Delete"/>, but returns false instead of throwing when it does not exist.</summary>
    public static bool TryDelete(string name)
    {
        ValidateName(name);
        string path = $"{RunDir}/{name}";
        if (Libc.umount2(path, Libc.MNT_DETACH) != 0)
        {
            int e = Libc.Errno;
            if (e == Errno.ENOENT) return false;
            if (e != Errno.EINVAL) throw new KernelException(e, $"ip netns delete {name}", $"umount {path}"); // EINVAL: not mounted
        }
        if (Libc.unlink(path) != 0)
        {
            int e = Libc.Errno;
            if (e == Errno.ENOENT) return false;
            throw new KernelException(e, $"ip netns delete {name}", $"unlink {path}");
        }
        return true;
    }

    /// <summary>Runs <paramref name="action"/> synchronously on a new OS thread inside this namespace; exceptions are rethrown here.</summary>
    public void Run(Action action) => Run(() => { action(); return 0; });

    /// <summary>Runs <paramref name="func"/> synchronously on a new OS thread inside this namespace and returns its result.</summary>
    public T Run<T>(Func<T> func)
    {
        using var held = Hold();
        return RunOnThread(() =>
        {
            if (Libc.setns(held.Fd, Libc.CLONE_NEWNET) != 0) throw KernelException.FromLastError($"setns {Path}");
            return func();
        });
    }

    /// <summary>
    /// Moves the calling OS thread into this namespace until the returned scope is disposed, which moves it back
    /// into the namespace it was in. For short synchronous code on a thread the caller owns (a single-threaded
    /// executable's main thread: open a socket, write a sysctl), where <see cref="Run(Action)"/>'s extra thread
    /// would cost a thread start and two scheduler hand-offs. Synchronous code only, never across an await: the
    /// thread must run nothing else until the scope is disposed.
    /// If the thread cannot be moved back, the process is ended (<see cref="Environment.FailFast(string)"/>):
    /// a thread left in the wrong namespace must not run anything else.
    /// </summary>
    /// <remarks>Equivalent to: nsenter --net=NS (for the calling thread only)</remarks>
    public ThreadScope Enter()
    {
        int back = Libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (back < 0) throw KernelException.FromLastError("open /proc/thread-self/ns/net");
        using var held = Hold();
        if (Libc.setns(held.Fd, Libc.CLONE_NEWNET) != 0)
        {
            var e = KernelException.FromLastError($"setns {Path}");
            Libc.close(back);
            throw e;
        }
        return new ThreadScope(back);
    }

    /// <summary>The calling thread's stay in a namespace (<see cref="Enter"/>); Dispose moves it back.</summary>
    public sealed class ThreadScope : IDisposable
    {
        private int _back;

        internal ThreadScope(int back) => _back = back;

        public void Dispose()
        {
            if (_back < 0) return;
            if (Libc.setns(_back, Libc.CLONE_NEWNET) != 0)
                Environment.FailFast($"setns back into the thread's network namespace failed (errno {Libc.Errno})");
            Libc.close(_back);
            _back = -1;
        }
    }

    /// <summary>
    /// Keeps the descriptor open until disposed, so a concurrent <see cref="Dispose"/> cannot close it
    /// (and let the number be reused by another file) while a syscall is about to use it.
    /// </summary>
    internal HeldFd Hold()
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        var added = false;
        _fd.DangerousAddRef(ref added);
        return new HeldFd(_fd, _fd.Fd);
    }

    internal readonly struct HeldFd(FdHandle handle, int fd) : IDisposable
    {
        public int Fd => fd;
        public void Dispose() => handle.DangerousRelease();
    }

    /// <summary>Creates a .NET socket inside this namespace; it can be used from any thread afterwards.</summary>
    public Socket OpenSocket(AddressFamily addressFamily, SocketType socketType, ProtocolType protocolType) =>
        Run(() => new Socket(addressFamily, socketType, protocolType));

    public void Dispose() => _fd.Dispose();

    public override string ToString() => Name ?? Path;

    /// <summary>
    /// Runs on a fresh OS thread that exits afterwards, so a thread that changed namespace never runs
    /// anything else.
    /// </summary>
    private static T RunOnThread<T>(Func<T> func)
    {
        T? result = default;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = func();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "weft-netns",
        };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result!;
    }

    private static void EnsureRunDir()
    {
        if (Libc.mkdir(RunDir, 0x1ED /* 0755 */) != 0 && Libc.Errno != Errno.EEXIST)
            throw KernelException.FromLastError($"mkdir {RunDir}");
        // Make /run/netns a shared mount point so the namespace mounts propagate to other mount
        // namespaces (as iproute2 does); when it is not a mount point yet, bind-mount it on itself.
        bool bound = false;
        while (Libc.mount("none", RunDir, "none", Libc.MS_SHARED | Libc.MS_REC, 0) != 0)
        {
            int e = Libc.Errno;
            if (e != Errno.EINVAL || bound) throw new KernelException(e, $"mount --make-rshared {RunDir}");
            if (Libc.mount(RunDir, RunDir, "none", Libc.MS_BIND | Libc.MS_REC, 0) != 0)
                throw KernelException.FromLastError($"mount --rbind {RunDir} {RunDir}");
            bound = true;
        }
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name is "." or ".." || name.Contains('/') || name.Length > 255)
            throw new ArgumentException($"invalid network namespace name '{name}'", nameof(name));
    }
}
