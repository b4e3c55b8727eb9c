using System.Net.Sockets;
using Weft.Linux;

namespace Weft.Cli;

/// <summary>
/// Sockets opened inside a named network namespace (/run/netns/NAME) through Weft.Linux: the socket
/// stays in that namespace for its whole life and can be used from any thread.
/// </summary>
public static class NetnsSockets
{
    /// <exception cref="KernelException">The namespace does not exist (ENOENT) or cannot be entered.</exception>
    public static Socket Open(string netns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        using var ns = NetNs.OpenByName(netns);
        return ns.OpenSocket(family, type, protocol);
    }
}
