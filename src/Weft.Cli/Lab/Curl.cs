using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Weft.Cli.Lab;

/// <summary>One connection attempt from a source instance to a destination instance.</summary>
public sealed record CurlResult(string Source, string Destination, string Ip, int Port, string Protocol, bool Ok, string? Answer, string? Error, double Ms)
{
    public override string ToString()
        => $"{Source} -> {Destination} {Ip}:{Port}/{Protocol}  " + (Ok ? $"ok {Answer} ({Ms:0} ms)" : $"FAILED {Error} ({Ms:0} ms)");
}

/// <summary>
/// Connection attempts made from inside a container's namespace: the socket is opened in that
/// namespace (no subprocess), connects with a short timeout and reads the lab app's one-line answer.
/// </summary>
public static class Curl
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1);

    public static async Task<CurlResult> Probe(string srcNetns, string source, string destination, string ip, int port, bool udp, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        var proto = udp ? "udp" : "tcp";
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            var answer = udp ? await Udp(srcNetns, ip, port, cts.Token) : await Tcp(srcNetns, ip, port, cts.Token);
            return new CurlResult(source, destination, ip, port, proto, true, answer, null, sw.Elapsed.TotalMilliseconds);
        }
        catch (OperationCanceledException)
        {
            return new CurlResult(source, destination, ip, port, proto, false, null, $"timed out after {timeout.TotalMilliseconds:0} ms", sw.Elapsed.TotalMilliseconds);
        }
        catch (SocketException e)
        {
            return new CurlResult(source, destination, ip, port, proto, false, null, Describe(e.SocketErrorCode), sw.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is IOException or Weft.Linux.KernelException)
        {
            return new CurlResult(source, destination, ip, port, proto, false, null, e.Message, sw.Elapsed.TotalMilliseconds);
        }
    }

    private static string Describe(SocketError e) => e switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.HostUnreachable => "host unreachable",
        SocketError.NetworkUnreachable => "network unreachable",
        SocketError.TimedOut => "timed out",
        SocketError.ConnectionReset => "connection reset",
        SocketError.AccessDenied => "permission denied",
        _ => e.ToString(),
    };

    private static async Task<string> Tcp(string netns, string ip, int port, CancellationToken ct)
    {
        using var s = NetnsSockets.Open(netns, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(new IPEndPoint(IPAddress.Parse(ip), port), ct);
        await s.SendAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n"), SocketFlags.None, ct);
        var buf = new byte[4096];
        var n = 0;
        while (n < buf.Length)
        {
            var r = await s.ReceiveAsync(buf.AsMemory(n), SocketFlags.None, ct);
            if (r == 0) break;
            n += r;
        }
        var text = Encoding.ASCII.GetString(buf, 0, n);
        var bodyAt = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (bodyAt >= 0 ? text[(bodyAt + 4)..] : text).Trim();
    }

    private static async Task<string> Udp(string netns, string ip, int port, CancellationToken ct)
    {
        using var s = NetnsSockets.Open(netns, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await s.ConnectAsync(new IPEndPoint(IPAddress.Parse(ip), port), ct);
        var buf = new byte[2048];
        // A datagram can be lost while neighbours resolve: ask again every 250 ms until the deadline.
        while (true)
        {
            await s.SendAsync("weft lab curl\n"u8.ToArray(), SocketFlags.None, ct);
            using var each = CancellationTokenSource.CreateLinkedTokenSource(ct);
            each.CancelAfter(250);
            try
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, each.Token);
                return Encoding.ASCII.GetString(buf, 0, n).Trim();
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        }
    }
}
