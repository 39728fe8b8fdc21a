using System.Buffers;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Telemetry;

namespace CbuffTcp.Connections;

/// <summary>
/// One connection, on either side: a receive loop (transport to protocol to handler), with AsyncReceive a dispatch
/// loop (ordered per-client handler queue), and a write loop (send queue to transport).
/// <see cref="RunAsync"/> owns the lifecycle: connected, the loops, then disconnected exactly once.
/// </summary>
internal sealed partial class Connection<TMessage>
{
    private readonly ConnectionTransport _transport;
    private readonly IProtocol<TMessage> _protocol;
    private readonly ITcpHandler<TMessage> _handler;
    private readonly ConnectionSettings _settings;
    private readonly IConnectionOwner<TMessage>? _owner;
    private readonly SendQueue _sendQueue;
    private volatile bool _ready;
    private long _writeLoopWakeups;
    private long _receivedMessages;
    private long _sentMessages;
    private long _sentBytes;
    private readonly TaskCompletionSource _flushed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Serializes OnSent (write loop) with the receive-side callbacks, so one client's callbacks never overlap.
    // Only needed, and only created, when NotifySent is on.
    private readonly SemaphoreSlim? _callbackGate;

    public Connection(
        ClientInfo info,
        ConnectionTransport transport,
        IProtocol<TMessage> protocol,
        ITcpHandler<TMessage> handler,
        ConnectionSettings settings,
        IConnectionOwner<TMessage>? owner = null)
    {
        Info = info;
        _transport = transport;
        _protocol = protocol;
        _handler = handler;
        _settings = settings;
        _owner = owner;
        _sendQueue = new SendQueue(settings.SendQueueMaxBytes, settings.SendQueueMaxMessages, settings.NotifySent, settings.BufferPool);
        _callbackGate = settings.NotifySent ? new SemaphoreSlim(1, 1) : null;
    }

    public ClientInfo Info { get; }

    public long Id => Info.Id;

    /// <summary>
    /// True once <c>OnConnectedAsync</c> has completed. Broadcasts skip connections that are not yet ready, so no
    /// client sees a broadcast before what its own <c>OnConnectedAsync</c> sent (a welcome, say).
    /// </summary>
    public bool IsReady => _ready;

    /// <summary>Bytes queued for this client or being written now.</summary>
    public int QueuedBytes => _sendQueue.QueuedBytes;

    /// <summary>Times the write loop woke from an empty queue (zero for a client nobody sends to).</summary>
    public long WriteLoopWakeups => Volatile.Read(ref _writeLoopWakeups);

    /// <summary>Of <see cref="WriteLoopWakeups"/>, those that ran on the thread that had just handled a batch (no thread hop).</summary>
    public long InlineWriteLoopWakeups => _sendQueue.InlineWakeups;

    /// <summary>What this connection has received and sent so far (each figure has one writer: its own loop).</summary>
    public TrafficTotals Traffic => new(Volatile.Read(ref _receivedMessages), ReceivedBytes, Volatile.Read(ref _sentMessages), Volatile.Read(ref _sentBytes));

    /// <summary>
    /// Runs the connection to its end: completes after <c>OnDisconnectedAsync</c> has returned, and tells the owner.
    /// Never throws: a failure of CbuffTcp itself goes to the owner (or, without one, faults the task).
    /// </summary>
    public async Task RunAsync()
    {
        // One method, not a wrapper around another: an idle connection holds one waiting state machine for this.
        try
        {
            var telemetry = _settings.Telemetry;
            var started = _lastReceived = _settings.TimeProvider.GetTimestamp();
            Log.ClientConnected(telemetry.Logger, Id, Info.RemoteEndPoint);
            if (await InvokeHandlerAsync(static c => c._handler.OnConnectedAsync(c.Info), nameof(ITcpHandler<TMessage>.OnConnectedAsync)).ConfigureAwait(false))
            {
                _ready = true;
                var writing = WriteLoopAsync();
                await ReceiveLoopAsync().ConfigureAwait(false);
                await writing.ConfigureAwait(false);
                if (IoLoop.IsCurrentThread)
                {
                    // The end of the stream woke this on an I/O thread; the teardown and OnDisconnectedAsync are not
                    // socket work: leave that thread to its other sockets (a thousand clients leaving at once, say).
                    await Task.Yield();
                }
            }
            else
            {
                // OnConnected failed: nothing was read; flush what it may have queued, then end.
                await WriteLoopAsync().ConfigureAwait(false);
            }

            _transport.Dispose();
            _closeReason ??= new DisconnectInfo(DisconnectReason.RemoteClosed, string.Empty);
            if (telemetry.Metrics is { } metrics)
            {
                metrics.Retire(Traffic, static c => c._owner?.Closing(c), this);
                metrics.ConnectionEnded(started, _closeReason.Value.Reason, _settings.TimeProvider);
            }
            else
            {
                _owner?.Closing(this);
            }

            Log.ClientDisconnected(telemetry.Logger, Id, Info.RemoteEndPoint, _closeReason.Value.Reason, _closeReason.Value.Detail);

            // Static lambdas throughout: a capturing one would allocate its closure when this method starts and keep
            // it for the connection's whole life.
            await InvokeHandlerAsync(static c => c._handler.OnDisconnectedAsync(c.Info, c._closeReason!.Value), nameof(ITcpHandler<TMessage>.OnDisconnectedAsync)).ConfigureAwait(false);
            _callbackGate?.Dispose();
        }
        catch (Exception ex) when (_owner is not null)
        {
            _owner.Failed(this, ex);
        }
        finally
        {
            _owner?.Closing(this); // a no-op when it already ran, before OnDisconnectedAsync
            _owner?.Ended(this);
        }
    }

    /// <summary>
    /// Runs one handler callback, reporting what it throws through <c>OnClientError</c> and closing this client.
    /// Returns false when it threw.
    /// </summary>
    private async ValueTask<bool> InvokeHandlerAsync(Func<Connection<TMessage>, ValueTask> callback, string name)
    {
        try
        {
            await callback(this).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{name} threw {ex.GetType().Name}: {ex.Message}", ex);
            return false;
        }
    }

    /// <summary>User code (a handler callback or the protocol) threw: report it, count it, close this client only.</summary>
    private void FailWithHandlerError(string message, Exception exception)
    {
        _settings.Telemetry.Metrics?.HandlerError(exception);
        ReportClientError(message, exception);
        BeginClose(DisconnectReason.HandlerError, message);
    }

    private void ReportClientError(string message, Exception? exception)
    {
        var logger = _settings.Telemetry.Logger;
        Log.ClientError(logger, Id, Info.RemoteEndPoint, message, exception);
        try
        {
            _handler.OnClientError(Info, message, exception);
        }
        catch (Exception ex)
        {
            // The connection is closing for the original error already; the log is the one place left for this.
            Log.ClientErrorHandlerFailed(logger, Id, ex);
        }
    }
}
