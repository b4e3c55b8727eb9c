using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Weft.Cli.Lab;

/// <summary>
/// The lab's app: inside a container namespace, answers every HTTP request on TCP PORT and every
/// datagram on UDP PORT with one line "APP/INDEX IP" (e.g. "appA/0 10.255.12.2").
/// Runs as the hidden command <c>weft lab serve --app A --index I --ip X --port P</c>.
/// </summary>
public static class Serve
{
    public static string Answer(string app, int index, string ip) => $"{app}/{index} {ip}";

    public static int Run(string app, int index, string ip, int port, CancellationToken ct)
    {
        var answer = Answer(app, index, ip);
        var body = Encoding.ASCII.GetBytes(answer + "\n");
        var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        tcp.Bind(new IPEndPoint(IPAddress.Any, port));
        tcp.Listen(128);
        var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Any, port));
        Console.WriteLine($"serving {answer} on tcp/{port} and udp/{port}");

        var udpLoop = Task.Run(async () =>
        {
            var buf = new byte[2048];
            while (!ct.IsCancellationRequested)
            {
                var r = await udp.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), ct);
                await udp.SendToAsync(body, SocketFlags.None, r.RemoteEndPoint, ct);
            }
        }, ct);
        var tcpLoop = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                var c = await tcp.AcceptAsync(ct);
                _ = Task.Run(() => HandleHttp(c, body), ct);
            }
        }, ct);
        try { Task.WaitAny([udpLoop, tcpLoop], ct); }
        catch (OperationCanceledException) { }
        return 0;
    }

    private static async Task HandleHttp(Socket c, byte[] body)
    {
        using (c)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var buf = new byte[4096];
                var seen = 0;
                while (seen < buf.Length)
                {
                    var n = await c.ReceiveAsync(buf.AsMemory(seen), SocketFlags.None, cts.Token);
                    if (n == 0) break;
                    seen += n;
                    if (buf.AsSpan(0, seen).IndexOf("\r\n\r\n"u8) >= 0 || buf.AsSpan(0, seen).IndexOf("\n\n"u8) >= 0) break;
                }
                var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                await c.SendAsync(head, SocketFlags.None, cts.Token);
                await c.SendAsync(body, SocketFlags.None, cts.Token);
                c.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException) { }
        }
    }
}
