using System.Text;

namespace Weft.Cni;

/// <summary>
/// The records directory <c>&lt;stateDir&gt;/containers/</c>: one file per attachment, written atomically
/// (temp file + rename), so the agent never reads half a record. Not fsynced: it lives with the
/// containers it describes and is rebuilt by the runtime's ADDs after a reboot.
/// </summary>
public sealed class ContainerRecords
{
    public ContainerRecords(string stateDir) => Directory = Path.Combine(stateDir, "containers");

    public string Directory { get; }

    public string PathOf(string containerId, string ifName) => Path.Combine(Directory, $"{containerId}.{ifName}.json");

    public void Write(ContainerRecord record)
    {
        var path = PathOf(record.ContainerId, record.IfName);
        var tmp = Path.Combine(Directory, $".{record.ContainerId}.{record.IfName}.{Environment.ProcessId}.tmp");
        var json = record.ToJson();
        var fd = Native.open(tmp, Native.O_WRONLY | Native.O_CREAT | Native.O_TRUNC | Native.O_CLOEXEC, 0x1A4 /* 0644 */);
        if (fd < 0 && Native.Errno == Native.ENOENT)
        {
            try
            {
                System.IO.Directory.CreateDirectory(Directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CniException(CniErrorCode.IoFailure, $"cannot create the records directory {Directory}", e.Message);
            }

            fd = Native.open(tmp, Native.O_WRONLY | Native.O_CREAT | Native.O_TRUNC | Native.O_CLOEXEC, 0x1A4);
        }

        if (fd < 0)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot write the container record {path}", $"open {tmp}: errno {Native.Errno}");
        }

        var written = Native.WriteAll(fd, json);
        var errno = Native.Errno;
        Native.close(fd);
        if (!written || Native.rename(tmp, path) != 0)
        {
            errno = written ? Native.Errno : errno;
            Native.unlink(tmp);
            throw new CniException(CniErrorCode.IoFailure, $"cannot write the container record {path}", $"errno {errno}");
        }
    }

    /// <summary>The record of an attachment, or null when there is none (or it is unreadable).</summary>
    public ContainerRecord? Read(string containerId, string ifName) => ReadFile(PathOf(containerId, ifName));

    /// <summary>Removes a record; true if it existed.</summary>
    public bool Remove(string containerId, string ifName)
    {
        var path = PathOf(containerId, ifName);
        if (Native.unlink(path) == 0)
        {
            return true;
        }

        var errno = Native.Errno;
        return errno is Native.ENOENT or 20 /* ENOTDIR */
            ? false
            : throw new CniException(CniErrorCode.IoFailure, $"cannot remove the container record {path}", $"errno {errno}");
    }

    /// <summary>Every readable record; unreadable files are returned by name in <paramref name="broken"/>.</summary>
    public List<ContainerRecord> List(List<string>? broken = null)
    {
        var list = new List<ContainerRecord>();
        if (!System.IO.Directory.Exists(Directory))
        {
            return list;
        }

        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            var r = ReadFile(file);
            if (r is null)
            {
                broken?.Add(file);
            }
            else
            {
                list.Add(r);
            }
        }

        return list;
    }

    private static ContainerRecord? ReadFile(string path)
    {
        try
        {
            return ContainerRecord.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

/// <summary>Tells the agent that records changed: one datagram to <c>&lt;stateDir&gt;/agent.sock</c>, never waiting.</summary>
public static class AgentNotifier
{
    public const string SocketName = "agent.sock";
    private static readonly byte[] Message = "containers"u8.ToArray();

    /// <summary>Sends the datagram; returns false when the agent is not listening (ENOENT, ECONNREFUSED, EAGAIN …).</summary>
    public static unsafe bool Notify(string stateDir)
    {
        var path = Encoding.UTF8.GetBytes(Path.Combine(stateDir, SocketName));
        if (path.Length >= 108)
        {
            return false;
        }

        var fd = Native.socket(Native.AF_UNIX, Native.SOCK_DGRAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return false;
        }

        try
        {
            Native.SockaddrUn addr = default;
            addr.sun_family = Native.AF_UNIX;
            for (var i = 0; i < path.Length; i++)
            {
                addr.sun_path[i] = path[i];
            }

            fixed (byte* msg = Message)
            {
                return Native.sendto(fd, msg, (nuint)Message.Length, Native.MSG_DONTWAIT, &addr, (uint)(2 + path.Length + 1)) >= 0;
            }
        }
        finally
        {
            Native.close(fd);
        }
    }
}
