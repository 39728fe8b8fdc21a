using CbuffTcp.Connections;
using CbuffTcp.Telemetry;

namespace CbuffTcp;

public sealed partial class TcpClient<TMessage>
{
    // Messages sent while not connected, with Reconnect and an outbox on: they join the next connection's queue right
    // after its OnConnectedAsync (and OnReconnectedAsync). Guarded by _lock.
    private SendQueue? _outbox;

    // True once the outbox has joined the current connection's queue: sends go straight to it, without the lock.
    private volatile bool _sendsGoDirect;

    // CloseAsync was called (or the handler closed its own connection): do not reconnect.
    private volatile bool _closedByUser;
    private CancellationTokenSource? _stopReconnecting;

    /// <summary>The jitter of the reconnect delays (tests give a seeded one).</summary>
    internal Random Jitter { get; set; } = Random.Shared;

    /// <summary>Messages waiting in the outbox now (while reconnecting).</summary>
    public int OutboxMessages
    {
        get
        {
            lock (_lock)
            {
                return _outbox?.QueuedMessages ?? 0;
            }
        }
    }

    /// <summary>Runs connections one after another: the first, then each reconnect, until closed or out of attempts.</summary>
    private async Task RunReconnectingAsync(TcpConnection<TMessage> connection, ConnectionSettings settings, ReconnectOptions reconnect, Func<CancellationToken, Task<ConnectionTransport>> connect)
    {
        using var stop = new CancellationTokenSource();
        lock (_lock)
        {
            _stopReconnecting = stop;
            _outbox = reconnect.OutboxMaxBytes == 0 ? null : new SendQueue(reconnect.OutboxMaxBytes, reconnect.OutboxMaxMessages, settings.NotifySent, settings.BufferPool);
        }

        try
        {
            while (true)
            {
                await RunAsync(connection, settings).ConfigureAwait(false);
                _sendsGoDirect = false;
                if (_closedByUser || IsOwnClose(connection.ClosedFor))
                {
                    return; // the client's own close (or its handler's): not a loss
                }

                if (await ReconnectAsync(settings, reconnect, connect, stop.Token).ConfigureAwait(false) is not { } next)
                {
                    return;
                }

                connection = next;
            }
        }
        finally
        {
            lock (_lock)
            {
                _stopReconnecting = null;
                _outbox?.CompleteAndDiscard();
                _outbox = null;
            }
        }
    }

    /// <summary>Waits and connects, attempt after attempt: the new connection, or null when closed or out of attempts.</summary>
    private async Task<TcpConnection<TMessage>?> ReconnectAsync(ConnectionSettings settings, ReconnectOptions reconnect, Func<CancellationToken, Task<ConnectionTransport>> connect, CancellationToken stop)
    {
        var logger = settings.Telemetry.Logger;
        Exception? lastError = null;
        for (var attempt = 1; !stop.IsCancellationRequested; attempt++)
        {
            if (attempt > reconnect.MaxAttempts)
            {
                int dropped;
                lock (_lock)
                {
                    dropped = _outbox?.CompleteAndDiscard() ?? 0;
                }

                Log.ConnectorGaveUp(logger, attempt - 1, dropped, lastError?.Message ?? string.Empty);
                await CallReconnectHandlerAsync(h => h.OnReconnectFailedAsync(attempt - 1, lastError, dropped), nameof(IReconnectHandler<TMessage>.OnReconnectFailedAsync)).ConfigureAwait(false);
                return null;
            }

            var delay = reconnect.DelayBefore(attempt, Jitter);
            Log.ConnectorReconnecting(logger, attempt, (long)delay.TotalMilliseconds, lastError?.Message ?? string.Empty);
            var thisAttempt = new ReconnectAttempt(attempt, delay, lastError);
            await CallReconnectHandlerAsync(h => h.OnReconnectingAsync(thisAttempt), nameof(IReconnectHandler<TMessage>.OnReconnectingAsync)).ConfigureAwait(false);
            try
            {
                await Task.Delay(delay, settings.TimeProvider, stop).ConfigureAwait(false);
                var transport = await connect(stop).ConfigureAwait(false);
                var connection = NewConnection(transport, settings, attempt);
                lock (_lock)
                {
                    _connection = connection;
                }

                return connection;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return null;
            }
            catch (Exception ex)
            {
                lastError = ex; // refused, unreachable, timed out, a failed handshake: the next attempt waits longer
            }
        }

        return null;
    }

    /// <summary>
    /// After <c>OnConnectedAsync</c> of each connection: <c>OnReconnectedAsync</c> after a reconnect, then the outbox
    /// joins the queue behind what those two sent, and sends go straight to the connection from then on.
    /// </summary>
    private async ValueTask ConnectedAgainAsync(TcpConnection<TMessage> connection, int attempts)
    {
        if (attempts > 0)
        {
            Log.ConnectorReconnected(_logger, connection.RemoteEndPoint, connection.Id, attempts);
            await CallReconnectHandlerAsync(h => h.OnReconnectedAsync(connection, attempts), nameof(IReconnectHandler<TMessage>.OnReconnectedAsync)).ConfigureAwait(false);
        }

        lock (_lock)
        {
            if (_outbox is null || connection.TakeOutbox(_outbox))
            {
                _sendsGoDirect = true;
            }
        }
    }

    /// <summary>A send that found no connection to take it: into the outbox while one may come back, else refused.</summary>
    private SendResult EnqueueWhileReconnecting(PackBuffer packed)
    {
        lock (_lock)
        {
            return TargetWhileReconnecting() switch
            {
                TcpConnection<TMessage> connection => connection.EnqueuePacked(packed),
                SendQueue outbox => outbox.TryEnqueue(packed),
                _ => SendResult.Closed,
            };
        }
    }

    private SendResult EnqueueWhileReconnecting(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths)
    {
        lock (_lock)
        {
            return TargetWhileReconnecting() switch
            {
                TcpConnection<TMessage> connection => connection.EnqueuePacked(packed, lengths),
                SendQueue outbox => outbox.TryEnqueue(packed, lengths),
                _ => SendResult.Closed,
            };
        }
    }

    /// <summary>
    /// Under the lock: the connection when its outbox has joined it meanwhile and it is not closing; the outbox while
    /// a connection may come back; null when none will (closed by the client, or no outbox).
    /// </summary>
    private object? TargetWhileReconnecting()
    {
        if (_sendsGoDirect && _connection is { IsClosing: false } connection)
        {
            return connection;
        }

        return _closedByUser || IsOwnClose(_connection?.ClosedFor) || _completion.IsCompleted ? null : _outbox;
    }

    /// <summary>A close or abort of the client's own (its handler's included) ends it; any other end is a loss to recover from.</summary>
    private static bool IsOwnClose(DisconnectReason? reason) => reason is DisconnectReason.ClosedLocally or DisconnectReason.Aborted;

    private async ValueTask CallReconnectHandlerAsync(Func<IReconnectHandler<TMessage>, ValueTask> callback, string name)
    {
        if (_handler is not IReconnectHandler<TMessage> handler)
        {
            return;
        }

        try
        {
            await callback(handler).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Reported, and reconnecting goes on: a handler's bug must not strand the client disconnected.
            Log.ReconnectCallbackFailed(_logger, name, ex.Message, ex);
            try
            {
                _handler.OnError($"{name} threw {ex.GetType().Name}: {ex.Message}", ex);
            }
            catch (Exception inner)
            {
                Log.ErrorHandlerFailed(_logger, name, inner);
            }
        }
    }

    /// <summary>The state of a batch send into the outbox: the client, and the queue's answer.</summary>
    private struct OutboxBatch(TcpClient<TMessage> client)
    {
        public readonly TcpClient<TMessage> Client = client;
        public SendResult Result = SendResult.PackFailed;
    }
}
