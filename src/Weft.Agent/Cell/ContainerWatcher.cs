using System.Net.Sockets;

namespace Weft.Agent.Cell;

/// <summary>
/// Learns about container changes without polling: binds <c>agent.sock</c> (a unix datagram socket the
/// plugin writes one datagram to after each record change) and watches <c>containers/</c> with inotify,
/// so a lost datagram costs nothing. Every event calls <c>changed</c>, which is expected to coalesce.
/// </summary>
public sealed class ContainerWatcher : IDisposable
{
    private readonly Socket _socket;
    private readonly FileSystemWatcher _fsw;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _receive;
    private readonly string _socketPath;

    public ContainerWatcher(CellState state, Action changed)
    {
        _socketPath = state.SocketPath;
        File.Delete(_socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(_socketPath));
        _fsw = new FileSystemWatcher(state.ContainersDir, "*.json")
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite,
            IncludeSubdirectories = false,
        };
        _fsw.Created += (_, _) => changed();
        _fsw.Deleted += (_, _) => changed();
        _fsw.Renamed += (_, _) => changed();
        _fsw.Changed += (_, _) => changed();
        _fsw.Error += (_, _) => changed();
        _fsw.EnableRaisingEvents = true;
        _receive = Task.Run(async () =>
        {
            var buf = new byte[512];
            while (!_cts.IsCancellationRequested)
            {
                try
                {
                    await _socket.ReceiveAsync(buf, SocketFlags.None, _cts.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref _datagrams);
                    changed();
                }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                catch (SocketException) { await Task.Delay(100).ConfigureAwait(false); }
            }
        });
    }

    private long _datagrams;
    public long Datagrams => Interlocked.Read(ref _datagrams);

    public void Dispose()
    {
        _cts.Cancel();
        _fsw.Dispose();
        _socket.Dispose();
        try { _receive.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        try { File.Delete(_socketPath); } catch (IOException) { }
    }
}
