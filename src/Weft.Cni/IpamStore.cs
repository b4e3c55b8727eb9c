using System.Text;

namespace Weft.Cni;

/// <summary>
/// The persistent allocation store: <c>&lt;dataDir&gt;/ipam/allocations</c> (text, see <see cref="IpamState"/>),
/// guarded by <c>flock(LOCK_EX)</c> on <c>&lt;dataDir&gt;/ipam/lock</c>. Writes are atomic (temp file, then rename
/// over the store), so a reader without the lock always sees a whole store, and a crash of the plugin or a
/// reboot leaves either the old or the new one. With <c>durable</c> the temp file and the directory are also
/// fsynced, so not even a power cut loses a change (at the price of a disk flush per ADD and DEL; without
/// it, a power cut can lose the last seconds of changes — which concern containers that died with the power).
/// </summary>
public sealed class IpamStore
{
    public IpamStore(string dataDir, bool durable = false)
    {
        Durable = durable;
        Directory = Path.Combine(dataDir, "ipam");
        FilePath = Path.Combine(Directory, "allocations");
    }

    public string Directory { get; }

    public bool Durable { get; }

    public string FilePath { get; }

    /// <summary>Reads the store without locking (a consistent snapshot; for lookups that change nothing).</summary>
    public IpamState Read() => Load(FilePath);

    /// <summary>Takes the store's lock (blocks while another process holds it) and loads the state.</summary>
    public Session Open()
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot create the IPAM directory {Directory}", e.Message);
        }

        var lockPath = Path.Combine(Directory, "lock");
        var fd = Native.open(lockPath, Native.O_RDWR | Native.O_CREAT | Native.O_CLOEXEC, 0x180 /* 0600 */);
        if (fd < 0)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot open the IPAM lock {lockPath}", $"errno {Native.Errno}");
        }

        while (Native.flock(fd, Native.LOCK_EX) != 0)
        {
            var errno = Native.Errno;
            if (errno != Native.EINTR)
            {
                Native.close(fd);
                throw new CniException(CniErrorCode.IoFailure, $"cannot lock {lockPath}", $"errno {errno}");
            }
        }

        try
        {
            return new Session(this, fd, Load(FilePath));
        }
        catch
        {
            Native.close(fd);
            throw;
        }
    }

    private static IpamState Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new IpamState();
        }
        catch (IOException e)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot read the IPAM store {path}", e.Message);
        }

        try
        {
            return IpamState.Parse(text);
        }
        catch (FormatException e)
        {
            throw new CniException(CniErrorCode.IoFailure, $"the IPAM store {path} is corrupt", e.Message);
        }
    }

    private void Save(IpamState state)
    {
        var tmp = FilePath + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                fs.Write(Encoding.UTF8.GetBytes(state.Serialize()));
                fs.Flush(flushToDisk: Durable);
            }

            File.Move(tmp, FilePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot write the IPAM store {FilePath}", e.Message);
        }

        var dirFd = Durable ? Native.open(Directory, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0) : -1;
        if (dirFd >= 0)
        {
            Native.fsync(dirFd);
            Native.close(dirFd);
        }
    }

    /// <summary>The store under its lock. <see cref="Commit"/> writes changes; Dispose releases the lock.</summary>
    public sealed class Session : IDisposable
    {
        private readonly IpamStore _store;
        private int _fd;

        internal Session(IpamStore store, int fd, IpamState state)
        {
            _store = store;
            _fd = fd;
            State = state;
        }

        public IpamState State { get; }

        /// <summary>Writes the state if it changed (atomically, durably).</summary>
        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_fd < 0, this);
            if (State.Changed)
            {
                _store.Save(State);
            }
        }

        public void Dispose()
        {
            if (_fd >= 0)
            {
                Native.close(_fd); // closing the only descriptor releases the flock
                _fd = -1;
            }
        }
    }
}
