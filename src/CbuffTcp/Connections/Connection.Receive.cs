using System.Runtime.ExceptionServices;
using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;

namespace CbuffTcp.Connections;

internal sealed partial class Connection<TMessage>
{
    private Channel<ReceivedBatch>? _dispatchQueue;

    /// <summary>Transport to pipe. Waits for data before renting a buffer; pauses while the pipe is over its threshold.</summary>
    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        var readSize = ConnectionSettings.MinReadSize;
        var readsWithoutWaiting = 0;
        Exception? error = null;
        try
        {
            while (true)
            {
                _awaitingData = true;
                var waiting = _transport.WaitForDataAsync();
                readsWithoutWaiting = waiting.IsCompleted ? readsWithoutWaiting + 1 : 0;
                await waiting.ConfigureAwait(false);

                // Small reads land in a per-thread scratch buffer and are copied into a block of about their size, so
                // a connection holding a partial frame holds about what it received. Reads that fill their buffer
                // go straight into the pipe, in blocks that double up to the maximum read.
                int received;
                int capacity;
                if (readSize == ConnectionSettings.MinReadSize && _transport.TryReceiveAvailable(ReceiveScratch.Buffer, out received))
                {
                    capacity = ConnectionSettings.MinReadSize;
                    ReceiveScratch.Buffer.AsSpan(0, received).CopyTo(writer.GetSpan(received)); // same thread, no await since the read
                }
                else
                {
                    var memory = writer.GetMemory(readSize);
                    capacity = memory.Length;
                    received = await _transport.ReceiveAsync(memory).ConfigureAwait(false);
                }

                _awaitingData = false;
                if (received == 0)
                {
                    break;
                }

                readSize = received == capacity ? Math.Min(readSize * 2, ConnectionSettings.MaxReadSize) : ConnectionSettings.MinReadSize;

                NoteReceived(received);
                writer.Advance(received);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
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

        _awaitingData = false;

        if (error is not null)
        {
            BeginClose(ClassifyTransportError(error), error.Message);
        }

        await writer.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Pipe to protocol to handler, one batch per read; ends at the peer's FIN, a close, or bad input.</summary>
    private async Task DecodeLoopAsync()
    {
        var reader = _input.Reader;
        Task? dispatching = null;
        if (_settings.AsyncReceive)
        {
            _dispatchQueue = Channel.CreateBounded<ReceivedBatch>(new BoundedChannelOptions(_settings.AsyncReceiveQueueLimit)
            {
                SingleReader = true,
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
            dispatching = DispatchLoopAsync(_dispatchQueue.Reader);
        }

        try
        {
            while (!IsClosing)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                var consumed = buffer.Start;
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
                                consumed = buffer.Start;
                                Volatile.Write(ref _receivedMessages, _receivedMessages + count); // the only writer
                            }

                            depackError?.Throw();
                        }
                        finally
                        {
                            // Only the slots used hold references into the pipe; clearing all 256 showed in profiles.
                            Array.Clear(batch, 0, count);
                            ArrayPool<TMessage>.Shared.Return(batch);
                        }

                        if (count < ConnectionSettings.MaxBatchSize)
                        {
                            break;
                        }
                    }

                    NoteLeftover(consumedAny: !consumed.Equals(result.Buffer.Start), buffer.Length);
                    if (buffer.Length > _settings.MaxFrameSize + (long)ConnectionSettings.ReceiveSlack / 2)
                    {
                        // The protocol has buffered past the frame limit without finding a message: stop before the pipe stalls.
                        throw new FrameTooLargeException(buffer.Length, _settings.MaxFrameSize);
                    }

                    if (result.IsCompleted)
                    {
                        BeginClose(DisconnectReason.RemoteClosed, buffer.IsEmpty ? string.Empty : $"closed with {buffer.Length} bytes of an incomplete frame");
                        break;
                    }
                }
                finally
                {
                    reader.AdvanceTo(consumed, buffer.End);
                }
            }
        }
        catch (ProtocolException ex)
        {
            ReportClientError(ex.Message, ex);
            BeginClose(ex.Reason, ex.Message);
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{_protocol.GetType().Name}.TryDepack threw {ex.GetType().Name}: {ex.Message}", ex);
        }

        await reader.CompleteAsync().ConfigureAwait(false);
        if (dispatching is not null)
        {
            _dispatchQueue!.Writer.TryComplete();
            await dispatching.ConfigureAwait(false);
        }
    }

    /// <summary>Hands a batch to the handler inline, or (AsyncReceive) copies it out of the pipe and queues it in order.</summary>
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

    /// <summary>AsyncReceive: runs the handler for queued batches in order, off the decode loop.</summary>
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
