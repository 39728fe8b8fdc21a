using System.Runtime.ExceptionServices;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Net.Sockets;
using System.Threading.Channels;

namespace CbuffTcp.Connections;

internal sealed partial class Connection<TMessage>
{
    private Channel<ReceivedBatch>? _dispatchQueue;

    /// <summary>
    /// Transport to protocol to handler, one loop: waits for data without a buffer, reads what is there, decodes it and
    /// hands the messages to the handler before reading again (the handler's pace is the read pace). Ends at the
    /// peer's FIN, a close, or bad input.
    /// </summary>
    private async Task ReceiveLoopAsync()
    {
        var input = new ReceiveBuffer(_settings.BufferPool, MaxBufferedBytes);
        var readSize = ConnectionSettings.MinReadSize;
        var readsWithoutWaiting = 0;
        var dispatching = StartDispatching();
        Exception? error = null;
        try
        {
            while (!IsClosing)
            {
                var waiting = _transport.WaitForDataAsync();
                if (waiting.IsCompleted)
                {
                    readsWithoutWaiting++;
                }
                else
                {
                    readsWithoutWaiting = 0;
                    input.TrimForWait();
                }

                _awaitingData = true; // the timeout clocks run from here (after the trim: tests measure memory from it)
                await waiting.ConfigureAwait(false);

                // Data is there: a socket reads it at once; a TLS record may take a moment longer.
                var memory = input.GetReadMemory(readSize);
                int received;
                if (!_transport.SupportsTryReceive)
                {
                    received = await _transport.ReceiveAsync(memory).ConfigureAwait(false);
                }
                else if (!_transport.TryReceiveAvailable(memory.Span, out received))
                {
                    continue; // woken with nothing to read after all: wait again (an empty buffer is returned first)
                }

                _awaitingData = false;
                if (received == 0)
                {
                    BeginClose(DisconnectReason.RemoteClosed, input.Length == 0 ? string.Empty : $"closed with {input.Length} bytes of an incomplete frame");
                    break;
                }

                // Reads that fill their buffer double the next one, so bulk transfers take few calls.
                readSize = received == memory.Length ? Math.Min(readSize * 2, ConnectionSettings.MaxReadSize) : ConnectionSettings.MinReadSize;
                NoteReceived(received);
                input.Advance(received);

                var consumed = await DecodeAsync(input.Data).ConfigureAwait(false);
                if (consumed < 0)
                {
                    break; // bad input: the connection is closing
                }

                input.Consume(consumed);
                NoteLeftover(consumedAny: consumed > 0, input.Length);
                if (input.Length > _settings.MaxFrameSize + (long)ConnectionSettings.ReceiveSlack / 2)
                {
                    // The protocol has buffered past the frame limit without finding a message.
                    FailWithBadInput(new FrameTooLargeException(input.Length, _settings.MaxFrameSize));
                    break;
                }

                if (readsWithoutWaiting >= ConnectionSettings.ReadsBeforeYield)
                {
                    // A peer that keeps the socket full would keep this thread forever (every read, decode and
                    // handler call completes synchronously): take a turn at the back of the thread pool's queue.
                    readsWithoutWaiting = 0;
                    await Task.Yield();
                }
            }
        }
        catch (Exception ex) when (IsClosing || IsTransportError(ex))
        {
            if (!IsClosing)
            {
                error = ex;
            }
        }
        catch (Exception ex)
        {
            ReportClientError($"Receiving failed: {ex.Message}", ex);
            error = ex;
        }
        finally
        {
            _awaitingData = false;
            input.Release();
        }

        if (error is not null)
        {
            BeginClose(ClassifyTransportError(error), error.Message);
        }

        if (dispatching is not null)
        {
            _dispatchQueue!.Writer.TryComplete();
            await dispatching.ConfigureAwait(false);
        }
    }

    /// <summary>Received bytes a connection may hold: a whole frame plus a read, or a frame could never complete.</summary>
    private int MaxBufferedBytes => (int)Math.Min(Array.MaxLength, (long)_settings.MaxFrameSize + ConnectionSettings.ReceiveSlack);

    /// <summary>With AsyncReceive, starts the loop that runs the handler off the receive loop, in order.</summary>
    private Task? StartDispatching()
    {
        if (!_settings.AsyncReceive)
        {
            return null;
        }

        _dispatchQueue = Channel.CreateBounded<ReceivedBatch>(new BoundedChannelOptions(_settings.AsyncReceiveQueueLimit)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        return DispatchLoopAsync(_dispatchQueue.Reader);
    }

    /// <summary>
    /// Decodes <paramref name="data"/> into batches of at most <see cref="ConnectionSettings.MaxBatchSize"/> and
    /// delivers each. Returns the bytes consumed (whole frames delivered), or -1 when bad input closed the connection.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> DecodeAsync(ReadOnlySequence<byte> data)
    {
        var buffer = data;
        try
        {
            while (!IsClosing)
            {
                var before = buffer;
                var batch = ArrayPool<TMessage>.Shared.Rent(ConnectionSettings.MaxBatchSize);
                var count = 0;
                ExceptionDispatchInfo? depackError = null;
                try
                {
                    try
                    {
                        while (count < ConnectionSettings.MaxBatchSize && _protocol.TryDepack(ref buffer, out var message))
                        {
                            batch[count++] = message;
                        }
                    }
                    catch (Exception ex)
                    {
                        // The frames before the bad one are valid: deliver them, then fail at the bad one.
                        depackError = ExceptionDispatchInfo.Capture(ex);
                    }

                    if (count > 0)
                    {
                        await DeliverAsync(batch, count, before.Slice(0, buffer.Start)).ConfigureAwait(false);
                        Volatile.Write(ref _receivedMessages, _receivedMessages + count); // the only writer
                    }

                    depackError?.Throw();
                }
                finally
                {
                    // Only the slots used hold references into the input; clearing all 256 showed in profiles.
                    Array.Clear(batch, 0, count);
                    ArrayPool<TMessage>.Shared.Return(batch);
                }

                if (count < ConnectionSettings.MaxBatchSize)
                {
                    break;
                }
            }
        }
        catch (ProtocolException ex)
        {
            FailWithBadInput(ex);
            return -1;
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{_protocol.GetType().Name}.TryDepack threw {ex.GetType().Name}: {ex.Message}", ex);
            return -1;
        }

        return data.Length - buffer.Length;
    }

    private void FailWithBadInput(ProtocolException ex)
    {
        ReportClientError(ex.Message, ex);
        BeginClose(ex.Reason, ex.Message);
    }

    /// <summary>Hands a batch to the handler inline, or (AsyncReceive) copies it out of the receive buffer and queues it in order.</summary>
    private async ValueTask DeliverAsync(TMessage[] batch, int count, ReadOnlySequence<byte> frames)
    {
        if (_dispatchQueue is null)
        {
            await InvokeReceivedAsync(new MessageBatch<TMessage>(batch, count)).ConfigureAwait(false);
            return;
        }

        var owned = ReceivedBatch.CopyOf(batch, count, frames, _protocol, _settings.BufferPool);
        try
        {
            await _dispatchQueue.Writer.WriteAsync(owned).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            owned.Return();
        }
    }

    /// <summary>AsyncReceive: runs the handler for queued batches in order, off the receive loop.</summary>
    private async Task DispatchLoopAsync(ChannelReader<ReceivedBatch> queue)
    {
        while (await queue.WaitToReadAsync().ConfigureAwait(false))
        {
            while (queue.TryRead(out var batch))
            {
                try
                {
                    if (!IsClosing || _closeReason?.Reason == DisconnectReason.RemoteClosed)
                    {
                        await InvokeReceivedAsync(batch.Messages).ConfigureAwait(false);
                    }
                }
                finally
                {
                    batch.Return();
                }
            }
        }
    }

    private async ValueTask InvokeReceivedAsync(MessageBatch<TMessage> messages)
    {
        if (_callbackGate is not null)
        {
            await _callbackGate.WaitAsync().ConfigureAwait(false);
        }

        try
        {
            ValueTask handled;
            var outer = _sendQueue.BeginDeferringWake();
            try
            {
                handled = _handler.OnReceivedAsync(Info, messages);
            }
            finally
            {
                _sendQueue.EndDeferringWake(outer); // replies the handler queued so far go out now, from this thread
            }

            await handled.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{nameof(ITcpHandler<TMessage>.OnReceivedAsync)} threw {ex.GetType().Name}: {ex.Message}", ex);
        }
        finally
        {
            _callbackGate?.Release();
        }
    }

    /// <summary>A batch that owns its memory, for the AsyncReceive queue: messages are views into <see cref="_bytes"/>.</summary>
    private readonly struct ReceivedBatch
    {
        private readonly TMessage[] _messages;
        private readonly byte[]? _bytes;
        private readonly ArrayPool<byte>? _pool;

        private ReceivedBatch(TMessage[] messages, int count, byte[]? bytes, ArrayPool<byte>? pool)
        {
            _messages = messages;
            _pool = pool;
            Messages = new MessageBatch<TMessage>(messages, count);
            _bytes = bytes;
        }

        public MessageBatch<TMessage> Messages { get; }

        public static ReceivedBatch CopyOf(TMessage[] batch, int count, in ReadOnlySequence<byte> frames, IProtocol<TMessage> protocol, ArrayPool<byte> pool)
        {
            var messages = ArrayPool<TMessage>.Shared.Rent(count);
            if (!protocol.MessagesReferenceInput)
            {
                batch.AsSpan(0, count).CopyTo(messages);
                return new ReceivedBatch(messages, count, null, null);
            }

            // Copy the frames' bytes once, then decode them again over the copy: the messages become views into
            // memory this batch owns. Decoding is a pure function of the bytes, so it yields the same messages.
            var bytes = pool.Rent((int)frames.Length);
            frames.CopyTo(bytes);
            var copy = new ReadOnlySequence<byte>(bytes, 0, (int)frames.Length);
            for (var i = 0; i < count; i++)
            {
                if (!protocol.TryDepack(ref copy, out messages[i]))
                {
                    throw new InvalidOperationException($"{protocol.GetType().Name} decoded a frame once but not from a copy of the same bytes.");
                }
            }

            return new ReceivedBatch(messages, count, bytes, pool);
        }

        public void Return()
        {
            ArrayPool<TMessage>.Shared.Return(_messages, clearArray: true);
            if (_bytes is not null)
            {
                _pool!.Return(_bytes);
            }
        }
    }

    private static bool IsTransportError(Exception ex) =>
        ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException;

    private static DisconnectReason ClassifyTransportError(Exception ex) => ex switch
    {
        SocketException { SocketErrorCode: SocketError.Shutdown or SocketError.Disconnecting } => DisconnectReason.RemoteClosed,
        _ => DisconnectReason.Reset,
    };
}
