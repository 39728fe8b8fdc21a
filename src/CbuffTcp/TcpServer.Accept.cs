using System.Net.Sockets;
using CbuffTcp.Connections;

namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    private long _rejectedConnections;

    /// <summary>Accepts until stopped. Never dies on an accept error: it reports it once per streak and backs off.</summary>
    private async Task AcceptLoopAsync(Socket listener, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.Zero;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.Zero;
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    // The peer gave up before we accepted it: nothing to serve, nothing to report.
                    continue;
                }
                catch (Exception ex)
                {
                    // Out of descriptors, or worse: report the first of a streak, then back off without spinning.
                    if (backoff == TimeSpan.Zero)
                    {
                        ReportError($"Accepting a connection failed: {ex.Message}", ex);
                    }

                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxAcceptBackoff.Ticks));
                    await Task.Delay(backoff, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    continue;
                }

                Admit(socket, settings);
            }
        }
        finally
        {
            ConnectionTaskEnded();
        }
    }

    private void Admit(Socket socket, ConnectionSettings settings)
    {
        if (_clients.Count >= _options.MaxConnections)
        {
            Interlocked.Increment(ref _rejectedConnections);
            socket.LingerState = new LingerOption(true, 0);
            socket.Dispose();
            return;
        }

        socket.NoDelay = settings.NoDelay;
        var info = new ClientInfo(Interlocked.Increment(ref _lastClientId), socket.RemoteEndPoint, socket.LocalEndPoint);
        var connection = new Connection<TMessage>(info, new SocketTransport(socket), _protocol, _handler, settings, _clients.Remove);
        _clients.TryAdd(connection);
        Interlocked.Increment(ref _connectionTaskCount);
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.server.RunConnectionAsync(state.connection), (server: this, connection), preferLocal: false);
    }

    private async Task RunConnectionAsync(Connection<TMessage> connection)
    {
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // RunAsync reports user-code failures itself; reaching here is a bug in CbuffTcp. Keep the server alive.
            ReportError($"Connection {connection.Id} failed unexpectedly: {ex.Message}", ex);
        }
        finally
        {
            _clients.Remove(connection);
            ConnectionTaskEnded();
        }
    }

    private void ConnectionTaskEnded()
    {
        if (Interlocked.Decrement(ref _connectionTaskCount) == 0)
        {
            _allConnectionsDone.TrySetResult();
        }
    }
}
