using CbuffTcp.Connections;
using System.Buffers;

namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    /// <summary>Queues messages a broadcast packed once for every client, all or none (copied: the others share them).</summary>
    internal SendResult EnqueuePacked(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) => Enqueued(_sendQueue.TryEnqueue(packed, lengths));

    /// <summary>Queues a broadcast's shared bytes by reference (only where <see cref="SendsGathered"/>).</summary>
    internal SendResult EnqueueShared(SharedSendBytes shared, ReadOnlySpan<int> lengths) => Enqueued(_sendQueue.TryEnqueue(shared, lengths));

    /// <summary>Whether this connection's sends gather arrays, so that a broadcast is queued for it by reference rather than copied.</summary>
    internal bool SendsGathered => _transport.GathersSends;

    /// <summary>Makes a broadcast's shared bytes as this connection's queue would hold a copy: from its pool, against the server's memory budget.</summary>
    internal SharedSendBytes? ShareForBroadcast(ReadOnlySpan<byte> packed) => _sendQueue.Share(packed);

    /// <summary>Queues a message packed for this client alone: a large one joins the queue without a copy.</summary>
    internal SendResult EnqueuePacked(PackBuffer packed) => Enqueued(_sendQueue.TryEnqueue(packed));

    private SendResult Enqueued(SendResult result)
    {
        if (result == SendResult.QueueFull)
        {
            _settings.Telemetry.Metrics?.SendQueueRejected();
        }

        if (result == SendResult.QueueFull && _settings.SlowConsumerPolicy == SlowConsumerPolicy.Disconnect)
        {
            // It cannot take what is queued, so flushing would only hold the queue for the flush timeout: reset now.
            Abort(DisconnectReason.SlowConsumer, $"send queue full ({_settings.SendQueueMaxBytes} bytes / {_settings.SendQueueMaxMessages} messages)");
        }

        return result;
    }

    // The write loop, once a send has had to wait (a full socket buffer, a slow peer) or OnSent is on: from then on
    // the queue wakes it through this. Null while every send completed at once, as an idle connection's have.
    private AsyncSignal? _writeLoopSignal;

    /// <summary>True once a send has had to wait, so that the connection keeps a write loop (see <see cref="WritePass"/>).</summary>
    internal bool HasWriteLoop => Volatile.Read(ref _writeLoopSignal) is not null;

    /// <summary>
    /// Starts writing, once the connection is ready: what <c>OnConnectedAsync</c> queued goes out now. From then on the
    /// queue starts a write pass whenever bytes arrive and none is running.
    /// </summary>
    private void StartWriting() => WritePass();

    /// <summary>The queue has bytes and no pass runs: write them (counted, for tests, as a wake-up of the writer).</summary>
    void IQueueWriter.RunWritePass()
    {
        _writeLoopWakeups++; // one pass at a time: the only writer
        if (_writeLoopSignal is { } signal)
        {
            signal.SetInline(); // this is the thread the queue chose for the pass: the loop runs on it
        }
        else
        {
            WritePass();
        }
    }

    /// <summary>
    /// Send queue to transport, while there is work: takes everything queued and sends it (in one gathered call where
    /// the transport can) until the queue is empty, then returns; the queue starts the next pass when bytes arrive.
    /// So a connection whose sends complete at once holds no waiting writer between passes, and allocates nothing.
    /// The first send that must wait (or any, with OnSent) hands the pass over to <see cref="WriteLoopAsync"/>, which stays.
    /// </summary>
    private void WritePass()
    {
        try
        {
            while (true)
            {
                var outcome = _sendQueue.TryTake(out var outgoing);
                if (outcome == TakeOutcome.Wait)
                {
                    return; // the queue starts the next pass
                }

                if (outcome == TakeOutcome.Completed)
                {
                    _transport.Shutdown(); // everything queued is written: a graceful FIN, which also ends the receive loop
                    break;
                }

                var sending = SendOrFail(outgoing);
                if (!sending.IsCompletedSuccessfully || outgoing.MessageLengths is not null)
                {
                    _writeLoopSignal = new AsyncSignal();
                    _ = WriteLoopAsync(sending, outgoing);
                    return;
                }

                sending.GetAwaiter().GetResult(); // a reusable source behind it is released by this
                CountSent(outgoing);
                _sendQueue.Release(outgoing);
            }
        }
        catch (Exception ex)
        {
            FailWriting(ex);
        }

        EndWriting();
    }

    /// <summary>
    /// The write loop of a connection whose send had to wait (<paramref name="sending"/>, carrying
    /// <paramref name="outgoing"/>): finishes that send, then writes as the passes do, but sleeps between passes on
    /// <see cref="_writeLoopSignal"/>, so a slow peer's connection does not make its state again at every wait.
    /// </summary>
    private async Task WriteLoopAsync(ValueTask sending, OutgoingBytes outgoing)
    {
        var signal = _writeLoopSignal!;
        try
        {
            while (true)
            {
                try
                {
                    await sending.ConfigureAwait(false);
                    CountSent(outgoing);
                    if (outgoing.MessageLengths is { } lengths)
                    {
                        await NotifySentAsync(outgoing, lengths).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _sendQueue.Release(outgoing);
                }

                TakeOutcome outcome;
                while (true)
                {
                    signal.Reset(); // armed before the take that may find the queue empty: its wake-up comes after
                    outcome = _sendQueue.TryTake(out outgoing);
                    if (outcome != TakeOutcome.Wait)
                    {
                        break;
                    }

                    await signal.WaitAsync().ConfigureAwait(false);
                }

                if (outcome == TakeOutcome.Completed)
                {
                    _transport.Shutdown(); // everything queued is written: a graceful FIN, which also ends the receive loop
                    break;
                }

                sending = SendOrFail(outgoing);
            }
        }
        catch (Exception ex)
        {
            FailWriting(ex);
        }

        EndWriting();
    }

    /// <summary>Starts sending what a pass took; a send that throws at once fails as one that fails later does.</summary>
    private ValueTask SendOrFail(in OutgoingBytes outgoing)
    {
        try
        {
            return _transport.SendAsync(outgoing.Segments, outgoing.Count);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(ex);
        }
    }

    private void CountSent(in OutgoingBytes outgoing)
    {
        Volatile.Write(ref _sentMessages, _sentMessages + outgoing.Messages); // one pass at a time: the only writer
        Volatile.Write(ref _sentBytes, _sentBytes + outgoing.Length);
    }

    private void FailWriting(Exception ex)
    {
        if (!IsClosing && !IsTransportError(ex))
        {
            ReportClientError($"Sending failed: {ex.Message}", ex);
        }

        BeginClose(ClassifyTransportError(ex), ex.Message);
        _transport.Abort();
    }

    /// <summary>The write side has ended (flushed and shut down, or failed): drops what is left and completes <see cref="WhenFlushed"/>.</summary>
    private void EndWriting()
    {
        _sendQueue.CompleteAndDiscard();
        MarkFlushed();
    }

    private async ValueTask NotifySentAsync(OutgoingBytes outgoing, List<int> lengths)
    {
        await CallbackGate!.WaitAsync().ConfigureAwait(false);
        try
        {
            // Messages lie in order, each within one segment.
            var segment = 0;
            var offset = 0;
            foreach (var length in lengths)
            {
                while (offset + length > outgoing.Segments[segment].Length)
                {
                    segment++;
                    offset = 0;
                }

                NotifySent(outgoing.Segments[segment].Array, offset, length);
                offset += length;
            }
        }
        finally
        {
            CallbackGate.Release();
        }
    }

    private void NotifySent(byte[] buffer, int offset, int length)
    {
        try
        {
            var packet = new ReadOnlySequence<byte>(buffer, offset, length);
            if (!_protocol.TryDepack(ref packet, out var message))
            {
                ReportClientError($"{_protocol.GetType().Name} could not decode a packet it packed; OnSent skipped for it.", null);
                return;
            }

            _handler.OnSent(this, message, buffer.AsSpan(offset, length));
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{nameof(ITcpHandler<TMessage>.OnSent)} threw {ex.GetType().Name}: {ex.Message}", ex);
        }
    }
}
