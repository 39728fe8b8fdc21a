using CbuffTcp.Connections;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Telemetry;

namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    // When RunAsync started, on the options' clock: the connection's duration in the metrics.
    private long _startedAt;

    /// <summary>
    /// Runs the connection to its end: completes after <c>OnDisconnectedAsync</c> has returned, and tells the owner.
    /// Never throws: a failure of CbuffTcp itself goes to the owner (or, without one, faults the task).
    /// </summary>
    /// <remarks>
    /// Three steps, each started by the one before rather than awaited by a method around them all: opening (a PROXY
    /// header, <c>OnConnectedAsync</c>), the receive loop, and the end (<see cref="EndAsync"/>, which the receive loop
    /// runs last). So an idle connection holds one waiting state machine, its receive loop's, and nothing waits on it.
    /// </remarks>
    internal Task RunAsync()
    {
        _startedAt = _lastReceived = _settings.TimeProvider.GetTimestamp();
        var opening = OpenAsync();
        return opening.IsCompletedSuccessfully ? Continue(opening.Result) : ContinueWhenOpenAsync(opening);
    }

    private async Task ContinueWhenOpenAsync(ValueTask<(Opening, Exception?)> opening) =>
        await Continue(await opening.ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>The step after opening: the receive loop (which ends the connection last), or the end at once.</summary>
    private Task Continue((Opening Step, Exception? Failure) opening)
    {
        switch (opening.Step)
        {
            case Opening.Live:
                _ready = true;
                StartWriting();
                return ReceiveLoopAsync();
            case Opening.ConnectedFailed:
                StartWriting(); // nothing was read; flush what OnConnectedAsync may have queued, then end
                return EndAsync(admitted: true);
            case Opening.Refused:
                _transport.Abort(); // refused before any handler call (reported by the server): nothing to flush
                return EndAsync(admitted: false);
            default:
                return EndAfterFailure(opening.Failure!);
        }
    }

    /// <summary>Behind a load balancer, the PROXY header first; then <c>OnConnectedAsync</c>. Never throws.</summary>
    private async ValueTask<(Opening, Exception?)> OpenAsync()
    {
        try
        {
            // Behind a load balancer, its PROXY header names the client first: everything from here on sees that client.
            if (_settings.ProxyProtocol is { } proxy && !await ReadProxyHeaderAsync(proxy).ConfigureAwait(false))
            {
                return (Opening.Refused, null);
            }

            Log.ClientConnected(_settings.Telemetry.Logger, Id, RemoteEndPoint);
            if (!await InvokeHandlerAsync(static c => c._handler.OnConnectedAsync(c), nameof(ITcpHandler<TMessage>.OnConnectedAsync)).ConfigureAwait(false))
            {
                return (Opening.ConnectedFailed, null);
            }

            if (AfterConnected is { } afterConnected)
            {
                await afterConnected(this).ConfigureAwait(false); // a reconnecting client's outbox joins the queue here
            }

            return (Opening.Live, null);
        }
        catch (Exception ex)
        {
            return (Opening.Crashed, ex);
        }
    }

    /// <summary>
    /// The end, once reading has stopped: waits until the write side has ended (admitted connections), then closes the
    /// socket, tells the owner and the metrics, and runs <c>OnDisconnectedAsync</c>. Never throws while there is an owner.
    /// </summary>
    private async Task EndAsync(bool admitted)
    {
        try
        {
            if (admitted)
            {
                await WhenFlushed().ConfigureAwait(false);
                if (IoLoop.IsCurrentThread)
                {
                    // The end of the stream woke this on an I/O thread; the teardown and OnDisconnectedAsync are not
                    // socket work: leave that thread to its other sockets (a thousand clients leaving at once, say).
                    await Task.Yield();
                }
            }

            _transport.Dispose();
            var closeReason = CloseReason;
            var telemetry = _settings.Telemetry;
            if (telemetry.Metrics is { } metrics)
            {
                metrics.Retire(Traffic, static c => c._owner?.Closing(c), this);
                metrics.ConnectionEnded(_startedAt, closeReason.Reason, _settings.TimeProvider);
            }
            else
            {
                _owner?.Closing(this);
            }

            if (admitted)
            {
                Log.ClientDisconnected(telemetry.Logger, Id, RemoteEndPoint, closeReason.Reason, closeReason.Detail);

                // Static lambdas throughout: a capturing one would allocate its closure when this method starts.
                await InvokeHandlerAsync(static c => c._handler.OnDisconnectedAsync(c, c.CloseReason), nameof(ITcpHandler<TMessage>.OnDisconnectedAsync)).ConfigureAwait(false);
            }

            CallbackGate?.Dispose();
        }
        catch (Exception ex) when (_owner is not null)
        {
            _owner.Failed(this, ex);
        }
        finally
        {
            Ended();
        }
    }

    /// <summary>CbuffTcp itself failed (not user code, whose failures close the connection): report it and end.</summary>
    private Task EndAfterFailure(Exception failure)
    {
        _transport.Abort();
        if (_owner is null)
        {
            return Task.FromException(failure);
        }

        _owner.Failed(this, failure);
        Ended();
        return Task.CompletedTask;
    }

    private void Ended()
    {
        _owner?.Closing(this); // a no-op when it already ran, before OnDisconnectedAsync
        _owner?.Ended(this);
    }

    private enum Opening
    {
        Live,
        ConnectedFailed,
        Refused,
        Crashed,
    }
}
