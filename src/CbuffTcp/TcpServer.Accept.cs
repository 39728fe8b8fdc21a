using System.Net.Sockets;
using CbuffTcp.Connections;

namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    private long _rejectedConnections;

    // 1 while a streak of rejections for that limit is under way: a flood is reported once, not once per socket.
    private int _rejectingForTotal;
    private int _rejectingForIp;

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
            Reject(socket, ref _rejectingForTotal, $"Connection limit of {_options.MaxConnections} reached: refusing new connections until clients leave.");
            return;
        }

        var address = PerIpConnectionCounter.KeyOf(socket.RemoteEndPoint);
        if (!_perIp.TryAcquire(address))
        {
            Reject(socket, ref _rejectingForIp, $"Per-IP connection limit of {_options.MaxConnectionsPerIp} reached for {address}: refusing its new connections.");
            return;
        }

        Volatile.Write(ref _rejectingForTotal, 0);
        Volatile.Write(ref _rejectingForIp, 0);

        socket.NoDelay = settings.NoDelay;
        var info = new ClientInfo(Interlocked.Increment(ref _lastClientId), socket.RemoteEndPoint, socket.LocalEndPoint);
        var connection = new Connection<TMessage>(info, new SocketTransport(socket), _protocol, _handler, settings, Unregister);
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
            Unregister(connection);
            ConnectionTaskEnded();
        }
    }

    /// <summary>
    /// Frees the client's registry entry and per-IP slot, once, before its <c>OnDisconnectedAsync</c> runs: by then
    /// <see cref="ClientCount"/> excludes it and its address may connect again.
    /// </summary>
    private void Unregister(Connection<TMessage> connection)
    {
        if (_clients.Remove(connection))
        {
            _perIp.Release(PerIpConnectionCounter.KeyOf(connection.Info.RemoteEndPoint));
        }
    }

    /// <summary>Resets a socket past a limit before any handler call; counts it and reports the first of a streak.</summary>
    private void Reject(Socket socket, ref int streak, string message)
    {
        Interlocked.Increment(ref _rejectedConnections);
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already reset by the peer: disposing is all that is left.
        }

        socket.Dispose();
        if (Interlocked.Exchange(ref streak, 1) == 0)
        {
            ReportError(message, null);
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
