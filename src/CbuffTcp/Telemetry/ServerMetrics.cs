using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace CbuffTcp.Telemetry;

/// <summary>
/// One server's instruments, named in the style of Kestrel's. Traffic (messages, bytes) is observable: each connection
/// counts in its own fields, and the totals are summed only when a listener asks, so the hot path pays nothing for
/// metrics and no two connections share a counter. Tags are bounded: never a client id or an address.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?> Receive = new("network.io.direction", "receive");
    private static readonly KeyValuePair<string, object?> Transmit = new("network.io.direction", "transmit");

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Histogram<double> _connectionDuration;
    private readonly Counter<long> _rejectedConnections;
    private readonly Counter<long> _sendQueueRejections;
    private readonly Counter<long> _handlerErrors;
    private readonly Histogram<double> _tlsHandshakeDuration;
    private readonly Counter<long> _ioThreadBlocked;
    private readonly UpDownCounter<long> _acceptPaused;
    private readonly Counter<long> _receiveThrottled;
    private readonly Func<TrafficTotals> _liveTraffic;
    private readonly Lock _trafficLock = new();
    private TrafficTotals _retired;

    public ServerMetrics(IMeterFactory? meterFactory, Func<TrafficTotals> liveTraffic, Func<long> activeConnections)
    {
        _liveTraffic = liveTraffic;
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(CbuffTcpTelemetry.MeterName) ?? new Meter(CbuffTcpTelemetry.MeterName);

        // Observable rather than +1/-1: a listener that attaches late (dotnet-counters) still reads the true count.
        _meter.CreateObservableUpDownCounter("cbufftcp.active_connections", activeConnections, "{connection}", "Clients connected now.");
        _connectionDuration = _meter.CreateHistogram<double>("cbufftcp.connection.duration", "s", "How long connections lasted; error.type holds the reason of an abnormal end.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600] });
        _rejectedConnections = _meter.CreateCounter<long>("cbufftcp.rejected_connections", "{connection}", "Connections refused at a connection limit.");
        _sendQueueRejections = _meter.CreateCounter<long>("cbufftcp.send_queue.rejections", "{message}", "Messages refused because a client's send queue was full.");
        _handlerErrors = _meter.CreateCounter<long>("cbufftcp.handler.errors", "{error}", "Exceptions thrown by the handler or the protocol (each closes its client).");
        _ioThreadBlocked = _meter.CreateCounter<long>("cbufftcp.io_thread.blocked", "{stall}", "Times an I/O thread stayed inside one connection's callback past BlockedThreadWarning.");
        _receiveThrottled = _meter.CreateCounter<long>("cbufftcp.receive.throttled", "{pause}", "Times a connection's reading paused at a receive rate limit (MessageRatePerConnection, ByteRatePerConnection), tagged with the limit.");
        _acceptPaused = _meter.CreateUpDownCounter<long>("cbufftcp.accept.paused", "{listener}", "1 while the server sheds at the door: accepting paused at AcceptHighWater until AcceptLowWater (each transition is a measurement).");
        _tlsHandshakeDuration = _meter.CreateHistogram<double>("cbufftcp.tls_handshake.duration", "s", "TLS handshakes; error.type is set when one failed.");
        _meter.CreateObservableCounter("cbufftcp.messages", ObserveMessages, "{message}", "Messages decoded from clients (receive) and written to them (transmit).");
        _meter.CreateObservableCounter("cbufftcp.network.io", ObserveBytes, "By", "Bytes read from clients (receive) and written to them (transmit).");
    }

    /// <summary>The memory budget's instruments: what is reserved and the limit (observed), and each refusal (counted by the budget).</summary>
    public void ObserveMemory(Func<MemoryBudget?> budget)
    {
        _meter.CreateObservableUpDownCounter("cbufftcp.memory.used", () => budget()?.Used ?? 0, "By", "Bytes of the server's memory budget reserved now (send queues and receive buffers past their first small array, AsyncReceive queues, large pack buffers).");
        _meter.CreateObservableUpDownCounter("cbufftcp.memory.limit", () => budget()?.Limit ?? 0, "By", "The server's memory budget (TcpServerOptions.MemoryBudget).");
        _meter.CreateObservableCounter("cbufftcp.memory.refusals", () => budget()?.Refusals ?? 0, "{reservation}", "Reservations the memory budget refused: each refused a send (QueueFull) or paused a read.");
    }

    /// <summary>The backplane's instruments, observed from <paramref name="totals"/> (a server with a backplane only).</summary>
    public void ObserveBackplane(Func<BackplaneTotals> totals)
    {
        _meter.CreateObservableGauge("cbufftcp.backplane.connected", () => totals().Connected ? 1 : 0, "{state}", "1 while the backplane is connected, 0 while it is not.");
        _meter.CreateObservableCounter("cbufftcp.backplane.gaps", () => totals().Gaps, "{envelope}", "Envelopes other nodes sent this node that never arrived (from their sequence numbers).");
        _meter.CreateObservableCounter("cbufftcp.backplane.envelopes", () =>
        {
            var t = totals();
            return new Measurement<long>[] { new(t.Published, Transmit), new(t.Received, Receive) };
        }, "{envelope}", "Envelopes published to the backplane (transmit) and received from it (receive).");
        _meter.CreateObservableCounter("cbufftcp.backplane.refused", () => totals().Refused, "{envelope}", "Envelopes dropped as unreadable (another protocol or version, or malformed).");
    }

    public void ConnectionEnded(long startTimestamp, DisconnectReason reason, TimeProvider time)
    {
        if (!_connectionDuration.Enabled)
        {
            return;
        }

        var seconds = time.GetElapsedTime(startTimestamp).TotalSeconds;
        if (IsNormal(reason))
        {
            _connectionDuration.Record(seconds);
        }
        else
        {
            _connectionDuration.Record(seconds, new KeyValuePair<string, object?>("error.type", ErrorType(reason)));
        }
    }

    public void ConnectionRejected(string limit) => _rejectedConnections.Add(1, new KeyValuePair<string, object?>("cbufftcp.limit", limit));

    public void SendQueueRejected() => _sendQueueRejections.Add(1);

    public void ReceiveThrottled(string limit) => _receiveThrottled.Add(1, new KeyValuePair<string, object?>("cbufftcp.limit", limit));

    public void AcceptPaused(bool paused) => _acceptPaused.Add(paused ? 1 : -1);

    public void IoThreadBlocked() => _ioThreadBlocked.Add(1);

    public void HandlerError(Exception exception) =>
        _handlerErrors.Add(1, new KeyValuePair<string, object?>("error.type", exception.GetType().FullName));

    public void TlsHandshakeEnded(long startTimestamp, Exception? error, TimeProvider time)
    {
        var seconds = time.GetElapsedTime(startTimestamp).TotalSeconds;
        if (error is null)
        {
            _tlsHandshakeDuration.Record(seconds);
        }
        else
        {
            _tlsHandshakeDuration.Record(seconds, new KeyValuePair<string, object?>("error.type", error.GetType().FullName));
        }
    }

    /// <summary>
    /// Moves an ending connection's traffic into the retired totals and drops it from the live set in one step, so a
    /// listener never sees it counted twice or not at all (counters must not go backwards).
    /// </summary>
    public void Retire<TState>(in TrafficTotals traffic, Action<TState> removeFromLiveSet, TState state)
    {
        lock (_trafficLock)
        {
            _retired += traffic;
            removeFromLiveSet(state);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    /// <summary>Ends that are part of normal life carry no error.type.</summary>
    private static bool IsNormal(DisconnectReason reason) =>
        reason is DisconnectReason.RemoteClosed or DisconnectReason.ClosedLocally or DisconnectReason.ServerStopping; // as DisconnectInfo.IsNormal

    private static string ErrorType(DisconnectReason reason) => reason switch
    {
        DisconnectReason.Reset => "reset",
        DisconnectReason.ProtocolError => "protocol_error",
        DisconnectReason.FrameTooLarge => "frame_too_large",
        DisconnectReason.FrameTimeout => "frame_timeout",
        DisconnectReason.IdleTimeout => "idle_timeout",
        DisconnectReason.SlowConsumer => "slow_consumer",
        DisconnectReason.HandlerError => "handler_error",
        DisconnectReason.Aborted => "aborted",
        _ => reason.ToString(),
    };

    private TrafficTotals Totals()
    {
        lock (_trafficLock)
        {
            return _retired + _liveTraffic();
        }
    }

    private Measurement<long>[] ObserveMessages()
    {
        var totals = Totals();
        return [new(totals.MessagesReceived, Receive), new(totals.MessagesSent, Transmit)];
    }

    private Measurement<long>[] ObserveBytes()
    {
        var totals = Totals();
        return [new(totals.BytesReceived, Receive), new(totals.BytesSent, Transmit)];
    }
}
