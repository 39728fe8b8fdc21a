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

    /// <summary>Send queue to transport: sleeps until there is work, then sends everything queued (in one gathered call where the transport can).</summary>
    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                var outcome = _sendQueue.TryTake(out var outgoing);
                if (outcome == TakeOutcome.Completed)
                {
                    break;
                }

                if (outcome == TakeOutcome.Wait)
                {
                    await _sendQueue.WaitAsync().ConfigureAwait(false);
                    _writeLoopWakeups++;
                    continue;
                }

                try
                {
                    await _transport.SendAsync(outgoing.Segments, outgoing.Count).ConfigureAwait(false);

                    Volatile.Write(ref _sentMessages, _sentMessages + outgoing.Messages); // the write loop is the only writer
                    Volatile.Write(ref _sentBytes, _sentBytes + outgoing.Length);
                    if (outgoing.MessageLengths is { } lengths)
                    {
                        await NotifySentAsync(outgoing, lengths).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _sendQueue.Release(outgoing);
                }
            }

            // Everything queued is written: a graceful FIN, which also ends the receive loop.
            _transport.Shutdown();
        }
        catch (Exception ex)
        {
            if (!IsClosing && !IsTransportError(ex))
            {
                ReportClientError($"Sending failed: {ex.Message}", ex);
            }

            BeginClose(ClassifyTransportError(ex), ex.Message);
            _transport.Abort();
        }
        finally
        {
            _sendQueue.CompleteAndDiscard();
            _flushed.TrySetResult();
        }
    }

    private async ValueTask NotifySentAsync(OutgoingBytes outgoing, List<int> lengths)
    {
        await _callbackGate!.WaitAsync().ConfigureAwait(false);
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
            _callbackGate.Release();
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
