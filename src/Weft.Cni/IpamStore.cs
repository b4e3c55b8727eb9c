using System.Text;

namespace Weft.Cni;

/// <summary>
/// The persistent allocation store in <c>&lt;dataDir&gt;/ipam/</c>: one slot file per /24,
/// <c>&lt;network&gt;-24.slots</c>, of 256 slots × 256 bytes. Slot 0 is the header
/// (<c>weft-ipam 2 &lt;subnet&gt; last=&lt;host&gt;</c>), slot <i>n</i> holds the attachment that owns host <i>n</i>
/// as <c>&lt;containerId&gt; &lt;ifName&gt;\n</c> (NUL-padded; all NUL = free). Every process takes <c>flock</c> on
/// <c>ipam/lock</c> (exclusive to change, shared to read). A change rewrites only the slots it touches, each with
/// one aligned 256-byte <c>pwrite</c> — a write inside one disk sector that never moves or renames a file, so it
/// is both fast (no new inode, no journal-heavy rename) and all-or-nothing: a crash of the plugin or a reboot
/// leaves each slot either old or new, never a torn store. With <c>durable</c> the file is also fsynced after
/// a change (a power cut then loses nothing; without it, it can lose the last seconds of changes, which
/// concern containers that died with the power).
/// </summary>
public sealed class IpamStore
{
    public const int SlotSize = 256;
    public const int Slots = 256;
    public const string Extension = ".slots";

    /// <summary>The longest container id a slot holds (with a space, a 15-byte interface name and a newline).</summary>
    public const int MaxContainerIdLength = SlotSize - 1 - 15 - 1;

    public IpamStore(string dataDir, bool durable = false)
    {
        Durable = durable;
        Directory = Path.Combine(dataDir, "ipam");
    }

    public string Directory { get; }

    public bool Durable { get; }

    public string PathOf(Ipv4Subnet subnet) => Path.Combine(Directory, $"{subnet.Network}-{subnet.PrefixLength}{Extension}");

    /// <summary>Reads the store under a shared lock (a consistent snapshot; for lookups that change nothing).</summary>
    public IpamState Read()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return new IpamState();
        }

        using var session = Lock(Native.LOCK_SH);
        return session.State;
    }

    /// <summary>Takes the store's exclusive lock (blocks while another process holds it) and loads the state.</summary>
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

        return Lock(Native.LOCK_EX);
    }

    private Session Lock(int mode)
    {
        var lockPath = Path.Combine(Directory, "lock");
        var fd = Native.open(lockPath, Native.O_RDWR | Native.O_CREAT | Native.O_CLOEXEC, 0x180 /* 0600 */);
        if (fd < 0)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot open the IPAM lock {lockPath}", $"errno {Native.Errno}");
        }

        while (Native.flock(fd, mode) != 0)
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
            var (state, lasts) = Load();
            return new Session(this, fd, state, lasts);
        }
        catch
        {
            Native.close(fd);
            throw;
        }
    }

    private (IpamState State, Dictionary<Ipv4Subnet, Ipv4?> Lasts) Load()
    {
        var allocations = new List<Allocation>();
        var lasts = new Dictionary<Ipv4Subnet, Ipv4?>();
        Ipv4? newest = null;
        long newestTime = 0;
        // Each file is read 4 KiB (16 slots) at a time into one stack buffer. A slot file is up to 64 KiB: a buffer
        // that size would be fresh pages, faulted in and cleared, on every ADD and DEL, and mapping the file instead
        // costs an mmap and a munmap, each dearer than the reads.
        Span<byte> chunk = stackalloc byte[16 * SlotSize];
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*" + Extension))
        {
            var fd = Native.open(path, Native.O_RDONLY | Native.O_CLOEXEC, 0);
            if (fd < 0)
            {
                throw new CniException(CniErrorCode.IoFailure, $"cannot read the IPAM store {path}", $"open: errno {Native.Errno}");
            }

            Ipv4Subnet subnet = default;
            Ipv4? last = null;
            long time;
            try
            {
                time = Native.ModifiedNanoseconds(fd);
                for (var first = 0; ; first += chunk.Length / SlotSize)
                {
                    var n = Native.ReadFully(fd, chunk);
                    if (n < 0)
                    {
                        throw new CniException(CniErrorCode.IoFailure, $"cannot read the IPAM store {path}", $"read: errno {Native.Errno}");
                    }

                    if (first == 0)
                    {
                        (subnet, last) = ParseHeader(chunk[..n]);
                    }

                    for (var offset = first == 0 ? SlotSize : 0; offset < n; offset += SlotSize)
                    {
                        var host = first + (offset / SlotSize);
                        if (host < Slots && ParseSlot(chunk.Slice(offset, Math.Min(SlotSize, n - offset)), host) is { } owner)
                        {
                            allocations.Add(new Allocation(new Ipv4(subnet.Network.Value | (uint)host), owner.ContainerId, owner.IfName));
                        }
                    }

                    if (n < chunk.Length)
                    {
                        break;
                    }
                }
            }
            catch (FormatException e)
            {
                throw new CniException(CniErrorCode.IoFailure, $"the IPAM store {path} is corrupt", e.Message);
            }
            finally
            {
                Native.close(fd);
            }

            lasts[subnet] = last;
            if (last is not null && (newest is null || time > newestTime))
            {
                newest = last;
                newestTime = time;
            }
        }

        return (new IpamState(allocations, newest), lasts);
    }

    private static (Ipv4Subnet Subnet, Ipv4? Last) ParseHeader(ReadOnlySpan<byte> file)
    {
        var text = SlotText(file[..Math.Min(SlotSize, file.Length)]) ?? throw new FormatException("no header");
        var f = text.Split(' ');
        if (f.Length < 3 || f[0] != "weft-ipam" || f[1] != "2" || !Ipv4Subnet.TryParse(f[2], out var subnet))
        {
            throw new FormatException($"bad header '{text}'");
        }

        Ipv4? last = null;
        if (f.Length > 3 && f[3].StartsWith("last=", StringComparison.Ordinal) && int.TryParse(f[3].AsSpan(5), out var host) && host is > 0 and < Slots)
        {
            last = new Ipv4(subnet.Network.Value | (uint)host);
        }

        return (subnet, last);
    }

    private static (string ContainerId, string IfName)? ParseSlot(ReadOnlySpan<byte> slot, int host)
    {
        var text = SlotText(slot);
        if (text is null)
        {
            return null;
        }

        var f = text.Split(' ');
        return f.Length == 2 && f[0].Length > 0 && f[1].Length > 0
            ? (f[0], f[1])
            : throw new FormatException($"bad slot {host}: '{text}'");
    }

    /// <summary>The text of a slot (up to the first newline or NUL), or null when the slot is empty or beyond the file.</summary>
    private static string? SlotText(ReadOnlySpan<byte> slot)
    {
        if (slot.IsEmpty || slot[0] == 0)
        {
            return null;
        }

        var end = slot.IndexOfAny((byte)'\n', (byte)0);
        return Encoding.UTF8.GetString(end < 0 ? slot : slot[..end]);
    }

    private static byte[] Slot(string? text)
    {
        var slot = new byte[SlotSize];
        if (text is not null)
        {
            var n = Encoding.UTF8.GetBytes(text + "\n", slot);
            _ = n;
        }

        return slot;
    }

    private static Dictionary<Ipv4, Allocation> ByIp(IReadOnlyList<Allocation> allocations)
    {
        var byIp = new Dictionary<Ipv4, Allocation>(allocations.Count);
        foreach (var a in allocations)
        {
            byIp.Add(a.Ip, a);
        }

        return byIp;
    }

    private void Save(IpamState state, Dictionary<Ipv4Subnet, Ipv4?> lasts, IpamState loaded)
    {
        var before = ByIp(loaded.Allocations);
        var after = ByIp(state.Allocations);
        var writes = new Dictionary<Ipv4Subnet, List<(int Slot, string? Text)>>();

        void Add(Ipv4Subnet subnet, int slot, string? text)
        {
            if (!writes.TryGetValue(subnet, out var list))
            {
                writes[subnet] = list = [];
            }

            list.Add((slot, text));
        }

        static Ipv4Subnet SubnetOf(Ipv4 ip) => new(new Ipv4(ip.Value & 0xFFFFFF00), 24);

        foreach (var (ip, a) in after)
        {
            if (!before.TryGetValue(ip, out var b) || b != a)
            {
                if (a.ContainerId.Length > MaxContainerIdLength)
                {
                    throw new CniException(CniErrorCode.InvalidEnvironment, $"container id longer than {MaxContainerIdLength} characters");
                }

                Add(SubnetOf(ip), (int)(ip.Value & 0xFF), $"{a.ContainerId} {a.IfName}");
            }
        }

        foreach (var ip in before.Keys)
        {
            if (!after.ContainsKey(ip))
            {
                Add(SubnetOf(ip), (int)(ip.Value & 0xFF), null);
            }
        }

        if (state.Last is { } last)
        {
            var subnet = SubnetOf(last);
            if (!lasts.TryGetValue(subnet, out var old) || old != last)
            {
                Add(subnet, 0, $"weft-ipam 2 {subnet} last={last.Value & 0xFF}");
            }
        }

        foreach (var (subnet, list) in writes)
        {
            var path = PathOf(subnet);
            var fd = Native.open(path, Native.O_RDWR | Native.O_CREAT | Native.O_CLOEXEC, 0x1A4 /* 0644 */);
            if (fd < 0)
            {
                throw new CniException(CniErrorCode.IoFailure, $"cannot write the IPAM store {path}", $"open: errno {Native.Errno}");
            }

            try
            {
                var ok = true;
                if (Native.FileSize(fd) < SlotSize)
                {
                    // A new file: the header first, so it is never a file without one.
                    ok &= Native.WriteAll(fd, Slot($"weft-ipam 2 {subnet}"), 0);
                }

                foreach (var (slot, text) in list)
                {
                    ok &= Native.WriteAll(fd, Slot(text), (long)slot * SlotSize);
                }

                if (ok && Durable)
                {
                    ok &= Native.fsync(fd) == 0;
                }

                if (!ok)
                {
                    throw new CniException(CniErrorCode.IoFailure, $"cannot write the IPAM store {path}", $"errno {Native.Errno}");
                }
            }
            finally
            {
                Native.close(fd);
            }
        }
    }

    /// <summary>The store under its lock. <see cref="Commit"/> writes changes; Dispose releases the lock.</summary>
    public sealed class Session : IDisposable
    {
        private readonly IpamStore _store;
        private readonly Dictionary<Ipv4Subnet, Ipv4?> _lasts;
        private IpamState _loaded;
        private int _fd;

        internal Session(IpamStore store, int fd, IpamState state, Dictionary<Ipv4Subnet, Ipv4?> lasts)
        {
            _store = store;
            _fd = fd;
            State = state;
            _lasts = lasts;
            _loaded = new IpamState(state.Allocations, state.Last);
        }

        public IpamState State { get; }

        /// <summary>Writes the slots that changed.</summary>
        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_fd < 0, this);
            if (State.Changed)
            {
                _store.Save(State, _lasts, _loaded);
                _loaded = new IpamState(State.Allocations, State.Last);
                if (State.Last is { } last)
                {
                    _lasts[new Ipv4Subnet(new Ipv4(last.Value & 0xFFFFFF00), 24)] = last;
                }
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
