using System.Net;
using System.Net.Sockets;
using System.Text;
using Weft.TestSupport;

namespace Weft.Agent.Tests.Root;

/// <summary>Real traffic between container namespaces, with sockets opened inside them.</summary>
internal static class Probe
{
    /// <summary>A TCP listener inside <paramref name="ns"/> that accepts and echoes; the peer address of
    /// every accepted connection goes into <paramref name="peers"/> when given.</summary>
    public static Socket Listen(string ns, int port, System.Collections.Concurrent.ConcurrentQueue<IPEndPoint>? peers = null)
    {
        var s = CellFabric.Socket(ns, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(IPAddress.Any, port));
        s.Listen(16);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket c;
                try { c = await s.AcceptAsync(); } catch (Exception) { return; }
                peers?.Enqueue((IPEndPoint)c.RemoteEndPoint!);
                _ = Task.Run(async () =>
                {
                    var buf = new byte[4096];
                    try
                    {
                        int n;
                        while ((n = await c.ReceiveAsync(buf)) > 0) await c.SendAsync(buf.AsMemory(0, n));
                    }
                    catch (Exception) { }
                    finally { c.Dispose(); }
                });
            }
        });
        return s;
    }

    /// <summary>Connects from <paramref name="ns"/>; null when refused/unreachable (the reject rule answers at once).</summary>
    public static async Task<Socket?> Connect(string ns, IPAddress ip, int port, IPAddress? bindTo = null)
    {
        var s = CellFabric.Socket(ns, SocketType.Stream, ProtocolType.Tcp);
        if (bindTo is not null) s.Bind(new IPEndPoint(bindTo, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await s.ConnectAsync(new IPEndPoint(ip, port), cts.Token);
            return s;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            s.Dispose();
            return null;
        }
    }

    public static async Task<bool> CanConnect(string ns, IPAddress ip, int port)
    {
        using var s = await Connect(ns, ip, port);
        return s is not null && await Echo(s, "hello");
    }

    /// <summary>Sends a message on an open connection and waits for its echo.</summary>
    public static async Task<bool> Echo(Socket s, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await s.SendAsync(bytes, SocketFlags.None, cts.Token);
            var buf = new byte[bytes.Length];
            var got = 0;
            while (got < buf.Length)
            {
                var n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, cts.Token);
                if (n == 0) return false;
                got += n;
            }
            return buf.AsSpan().SequenceEqual(bytes);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException) { return false; }
    }

    /// <summary>A UDP receiver inside <paramref name="ns"/>.</summary>
    public static Socket UdpListen(string ns, int port)
    {
        var s = CellFabric.Socket(ns, SocketType.Dgram, ProtocolType.Udp);
        s.ReceiveBufferSize = 4 << 20;
        s.Bind(new IPEndPoint(IPAddress.Any, port));
        return s;
    }

    public static Socket UdpSender(string ns, IPAddress? bindTo = null)
    {
        var s = CellFabric.Socket(ns, SocketType.Dgram, ProtocolType.Udp);
        if (bindTo is not null) s.Bind(new IPEndPoint(bindTo, 0));
        return s;
    }

    public static void SendUdp(Socket s, IPAddress ip, int port, string text) =>
        s.SendTo(Encoding.ASCII.GetBytes(text), new IPEndPoint(ip, port));

    /// <summary>
    /// The error a connected UDP socket gets when what it sent is refused with an ICMP error (the reject rule's
    /// admin-prohibited: HostUnreachable); waits up to 10 s. <see cref="SocketError.Success"/> when no error came.
    /// </summary>
    public static async Task<SocketError> Rejected(Socket connected)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await connected.ReceiveAsync(new byte[64], SocketFlags.None, cts.Token);
            return SocketError.Success; // a datagram came back: not refused
        }
        catch (SocketException e) { return e.SocketErrorCode; }
        catch (OperationCanceledException) { return SocketError.Success; }
    }

    /// <summary>The next datagram's text and source address (waits up to 10 s; (null, null) if none came).</summary>
    public static async Task<(string? Text, IPAddress? From)> ReceiveUdpFrom(Socket s)
    {
        var buf = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var r = await s.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            return (Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes), ((IPEndPoint)r.RemoteEndPoint).Address);
        }
        catch (OperationCanceledException) { return (null, null); }
    }

    /// <summary>The next datagram's text (waits up to 10 s; null if none came).</summary>
    public static async Task<string?> ReceiveUdp(Socket s)
    {
        var buf = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
            return Encoding.ASCII.GetString(buf, 0, n);
        }
        catch (OperationCanceledException) { return null; }
    }
}
