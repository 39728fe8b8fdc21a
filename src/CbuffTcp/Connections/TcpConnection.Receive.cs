using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using CbuffTcp.Connections;

namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    /// <summary>
    /// Transport to protocol to handler, one loop: waits for data without a buffer, reads what is there, decodes it and
    /// hands the messages to the handler before reading again (the handler's pace is the read pace). Stops at the
    /// peer's FIN, a close, or bad input, then ends the connection (<see cref="EndAsync"/>).
    /// </summary>
    /// <remarks>
    /// Rare paths (the receive rates, the memory budget, AsyncReceive, a PROXY header) live in small methods beside the
    /// loop, and the two it calls every pass are never inlined into it: the loop's tier-1 compile is the process's
    /// largest, and the JIT keeps the pages of its largest compile for good (with them inline: 1 to 3 MiB more peak RSS
    /// in `conns`; docs/limits.md). A call per read costs nothing next to the read.
    /// </remarks>
    private async Task ReceiveLoopAsync()
    {
        var input = TakeFirstInput(out var decodeFirst);

        var readSize = ConnectionSettings.MinReadSize;
        var readsWithoutWaiting = 0;
        var readFirst = false; // the last read filled its buffer: more is likely there, so read before waiting
        StartDispatching();
        try
        {
            while (!IsClosing)
            {
                if (decodeFirst)
                {
                    decodeFirst = false;
                    goto decode;
                }

                if (readFirst)
                {
                    readsWithoutWaiting++; // a read that finds nothing says so at once, and the loop waits after all
                }
                else
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
                }

                // Data is there: a socket reads it at once; a TLS record may take a moment longer.
                if (!TryGetReadMemory(ref input, readSize, out var memory, out var pause))
                {
                    await pause.ConfigureAwait(false); // past the byte rate, or the memory budget is spent
                    readFirst = true; // the data is still there
                    continue;
                }

                var requested = memory.Length; // not the Memory itself across the await: 12 bytes fewer in every waiting loop
                var receiving = _transport.ReceiveAsync(memory);
                var received = receiving.IsCompletedSuccessfully ? receiving.Result : await receiving.ConfigureAwait(false);
                if (received == ConnectionTransport.NothingYet)
                {
                    readFirst = false;
                    continue; // woken with nothing to read after all: wait again (an empty buffer is returned first)
                }

                _awaitingData = false;
                if (received == 0)
                {
                    // Closed only once every message read before the FIN is handled (with AsyncReceive too), so
                    // the replies the handler queues for them still go out before the FIN that answers it.
                    EndReceiving(ClosedByPeer(input.Length));
                    break;
                }

                // Reads that fill their buffer double the next one, so bulk transfers take few calls.
                readSize = received == requested ? Math.Min(readSize * 2, ConnectionSettings.MaxReadSize) : ConnectionSettings.MinReadSize;
                readFirst = received == requested && _transport.ReceivesWithoutWaiting;
                NoteReceived(received);
                Throttle?.Read(received);
                input.Advance(received);

            decode:
                var consumed = await DecodeAsync(input.Data).ConfigureAwait(false);
                TakeDecoded(ref input, consumed);
                if (_rare?.DecodeFailure is { } failure)
                {
                    EndReceiving(failure); // bad input: read no further
                    break;
                }

                var consumedAny = consumed > 0; // a bool across the await below, not the count: the loop's state is every waiting connection's

                if (DispatchQueue is not null)
                {
                    // The handler is behind, or the server's budget is spent with this queue holding some of it: read no
                    // further. Read through the field: a local held across the await would cost every waiting loop a field.
                    await DispatchQueue.WaitBeforeReadingAsync(WhenFlushed()).ConfigureAwait(false);
                }

                if (Throttle is { DecodeAllowance: 0 } && input.Length > 0)
                {
                    decodeFirst = true; // whole frames may be left undecoded: decode them once the rate allows, before reading
                }

                NoteLeftover(consumedAny, input.Length);
                if (input.Length > _settings.MaxFrameSize + (long)ConnectionSettings.ReceiveSlack / 2)
                {
                    // The protocol has buffered past the frame limit without finding a message.
                    EndReceiving(FrameTooLarge(input.Length));
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
                BeginClose(ClassifyTransportError(ex), ex.Message);
            }
        }
        catch (Exception ex)
        {
            ReportClientError($"Receiving failed: {ex.Message}", ex);
            BeginClose(ClassifyTransportError(ex), ex.Message);
        }
        finally
        {
            _awaitingData = false;
            input.Release();
        }

        // Kept in the rare state, not in a local from the loop's start: that would be a field of this loop's state in every waiting connection.
        if (_rare?.DispatchLoop is { } dispatching)
        {
            DispatchQueue!.Complete();
            try
            {
                await dispatching.ConfigureAwait(false);
            }
            catch (Exception ex) when (_owner is not null)
            {
                _owner.Failed(this, ex); // CbuffTcp's own failure (handlers' are caught per call): the connection still ends
            }
        }

        if (_rare?.EndedBy is { } reason)
        {
            BeginClose(reason.Reason, reason.Detail);
        }

        // The connection's last step, run from here rather than by a method awaiting this loop (see RunAsync).
        await EndAsync(admitted: true).ConfigureAwait(false);
    }

    /// <summary>
    /// The peer's FIN or bad input ends the connection once every message decoded before it is handled: at once when the
    /// handler ran inline, after the dispatch loop with AsyncReceive (so the replies the handler queues for them still
    /// go out before the FIN that answers it).
    /// </summary>
    private void EndReceiving(DisconnectInfo reason)
    {
        if (_rare?.DispatchLoop is null)
        {
            BeginClose(reason.Reason, reason.Detail);
        }
        else
        {
            Rare.EndedBy = reason;
        }
    }

    /// <summary>
    /// The receive loop's buffer: behind a PROXY header, the one holding the bytes read with the header (to be decoded
    /// before any wait: <paramref name="decodeFirst"/>), else an empty one.
    /// </summary>
    private ReceiveBuffer TakeFirstInput(out bool decodeFirst)
    {
        if (_rare?.FirstInput is { } first)
        {
            _rare.FirstInput = null;
            decodeFirst = first.Length > 0;
            return first;
        }

        decodeFirst = false;
        return new ReceiveBuffer(_settings.BufferPool, MaxBufferedBytes, _settings.Budget);
    }

    /// <summary>Received bytes a connection may hold: a whole frame plus a read, or a frame could never complete.</summary>
    private int MaxBufferedBytes => (int)Math.Min(Array.MaxLength, (long)_settings.MaxFrameSize + ConnectionSettings.ReceiveSlack);

    /// <summary>With AsyncReceive, starts the loop that runs the handler off the receive loop, in order.</summary>
    private void StartDispatching()
    {
        if (_settings.AsyncReceive)
        {
            var queue = Rare.DispatchQueue = new DispatchQueue<TMessage>(_settings.AsyncReceiveQueueMaxBytes, _settings.Budget);
            Rare.DispatchLoop = DispatchLoopAsync(queue);
        }
    }

    /// <summary>
    /// Decodes <paramref name="data"/> into batches of at most <see cref="ConnectionSettings.MaxBatchSize"/> and
    /// delivers each, <paramref name="maxMessages"/> at most (the message rate's allowance). Returns the bytes of the
    /// whole frames delivered; for bad input, also leaves the reason to close with in <see cref="RareState.DecodeFailure"/>
    /// (reported at once; the caller closes once what was decoded before it is handled). An int rather than a pair with
    /// the reason: the receive loop holds this method's awaiter while every idle connection waits, and the pair's is 48
    /// bytes (a connection's buffer is at most <see cref="Array.MaxLength"/>, so the count fits).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> DecodeAsync(ReadOnlySequence<byte> data, int maxMessages)
    {
        var buffer = data;
        try
        {
            while (!IsClosing)
            {
                var before = buffer;
                var batchLimit = Math.Min(ConnectionSettings.MaxBatchSize, maxMessages);
                var batch = ArrayPool<TMessage>.Shared.Rent(ConnectionSettings.MaxBatchSize);
                var count = 0;
                ExceptionDispatchInfo? depackError = null;
                try
                {
                    try
                    {
                        while (count < batchLimit && _protocol.TryDepack(ref buffer, out var message))
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
                        var frameBytes = before.Length - buffer.Length;
                        if (DispatchQueue is { } queue)
                        {
                            // The queue owns the batch's array from here (and, for views, the receive array after it).
                            queue.Enqueue(ReceivedBatch<TMessage>.OfMessages(batch, count, _protocol.MessagesReferenceInput ? 0 : frameBytes));
                            batch = null;
                        }
                        else
                        {
                            await InvokeReceivedAsync(new MessageBatch<TMessage>(batch, count)).ConfigureAwait(false);
                        }

                        Volatile.Write(ref _receivedMessages, _receivedMessages + count); // the only writer
                        Throttle?.Decoded(count);
                        maxMessages -= count;
                    }

                    depackError?.Throw();
                }
                finally
                {
                    if (batch is not null)
                    {
                        // Only the slots used hold references into the input; clearing all 256 showed in profiles.
                        Array.Clear(batch, 0, count);
                        ArrayPool<TMessage>.Shared.Return(batch);
                    }
                }

                if (count < batchLimit || maxMessages == 0)
                {
                    break;
                }
            }
        }
        catch (ProtocolException ex)
        {
            Rare.DecodeFailure = BadInput(ex);
        }
        catch (Exception ex)
        {
            var message = $"{_protocol.GetType().Name}.TryDepack threw {ex.GetType().Name}: {ex.Message}";
            ReportHandlerError(message, ex);
            Rare.DecodeFailure = new DisconnectInfo(DisconnectReason.HandlerError, message);
        }

        return (int)(data.Length - buffer.Length);
    }

    private ValueTask<int> DecodeAsync(ReadOnlySequence<byte> data) =>
        Throttle is null ? DecodeAsync(data, int.MaxValue) : DecodeAtMessageRateAsync(data);

    /// <summary>
    /// <see cref="DecodeAsync(ReadOnlySequence{byte}, int)"/> under the connection's message rate: past it, waits until the limiter refills, then
    /// decodes no more messages than it allows (the rest stay in the buffer, decoded before the next read).
    /// </summary>
    private async ValueTask<int> DecodeAtMessageRateAsync(ReadOnlySequence<byte> data)
    {
        var throttle = Throttle!;
        if (!throttle.HasMessages())
        {
            _settings.Telemetry.Metrics?.ReceiveThrottled("message_rate_per_connection");
            await throttle.WaitForMessagesAsync().ConfigureAwait(false);
        }

        return await DecodeAsync(data, throttle.DecodeAllowance).ConfigureAwait(false);
    }

    /// <summary>The peer's FIN, with what it left of an incomplete frame (if anything).</summary>
    private static DisconnectInfo ClosedByPeer(int held) =>
        new(DisconnectReason.RemoteClosed, held == 0 ? string.Empty : $"closed with {held} bytes of an incomplete frame");

    private DisconnectInfo FrameTooLarge(int held) => BadInput(new FrameTooLargeException(held, _settings.MaxFrameSize));

    private DisconnectInfo BadInput(ProtocolException ex)
    {
        ReportClientError(ex.Message, ex);
        return new DisconnectInfo(ex.Reason, ex.Message);
    }

    /// <summary>AsyncReceive: runs the handler for queued batches in order, off the receive loop.</summary>
    private async Task DispatchLoopAsync(DispatchQueue<TMessage> queue)
    {
        var reader = queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var batch))
            {
                try
                {
                    // A close (local, a timeout, bad input) drops what is not handled yet; a FIN closes only after this loop.
                    if (batch.HasMessages && !IsClosing)
                    {
                        await InvokeReceivedAsync(batch.Messages).ConfigureAwait(false);
                    }
                }
                finally
                {
                    queue.Taken(batch);
                }
            }
        }
    }

    private async ValueTask InvokeReceivedAsync(MessageBatch<TMessage> messages)
    {
        if (CallbackGate is not null)
        {
            await CallbackGate.WaitAsync().ConfigureAwait(false);
        }

        Volatile.Write(ref _runningCallback, nameof(ITcpHandler<TMessage>.OnReceivedAsync));
        try
        {
            ValueTask handled;
            var outer = _sendQueue.BeginDeferringWake();
            try
            {
                handled = _handler.OnReceivedAsync(this, messages);
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
            Volatile.Write(ref _runningCallback, null);
            CallbackGate?.Release();
        }
    }

    private static bool IsTransportError(Exception ex) =>
        ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException;

    /// <summary>An unexpected end of the stream: the peer's (reset, network) or this side's (the transport was aborted here).</summary>
    private static DisconnectReason ClassifyTransportError(Exception ex) => ex switch
    {
        SocketException { SocketErrorCode: SocketError.Shutdown or SocketError.Disconnecting } => DisconnectReason.RemoteClosed,
        SocketException { SocketErrorCode: SocketError.OperationAborted } or ObjectDisposedException or OperationCanceledException => DisconnectReason.Aborted,
        _ => DisconnectReason.Reset,
    };

    /// <summary>
    /// Where the next read goes, or why it waits (the rare cases, out of the loop's state machine): past the byte
    /// rate the data waits in the kernel until the limiter refills; when the memory budget cannot grow the buffer (a
    /// partial frame fills it), until memory frees, with the frame clock running, so a peer that cannot finish its
    /// frame is closed by it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // kept out of the loop's compile (see ReceiveLoopAsync)
    private bool TryGetReadMemory(ref ReceiveBuffer input, int readSize, out Memory<byte> memory, out ValueTask pause)
    {
        memory = default;
        pause = default;
        if (Throttle is { } throttle && !throttle.HasBytes())
        {
            _settings.Telemetry.Metrics?.ReceiveThrottled("byte_rate_per_connection");
            pause = throttle.WaitForBytesAsync();
            return false;
        }

        memory = input.GetReadMemory(readSize);
        if (memory.IsEmpty)
        {
            pause = new ValueTask(WaitForMemoryAsync(_settings.Budget!, input.RefusedCost));
            return false;
        }

        if (Throttle is { ReadAllowance: var allowance } && allowance < memory.Length)
        {
            memory = memory[..allowance];
        }

        return true;
    }

    /// <summary>
    /// Drops the decoded bytes from the buffer; with AsyncReceive, when the queued messages point into the array, the
    /// array leaves with them instead (decoded once, never copied) and the dispatch loop returns it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // kept out of the loop's compile (see ReceiveLoopAsync)
    private void TakeDecoded(ref ReceiveBuffer input, long consumed)
    {
        if (DispatchQueue is { } queue && _protocol.MessagesReferenceInput)
        {
            if (input.HandOver(consumed, out var reserved) is { } frames)
            {
                queue.Enqueue(ReceivedBatch<TMessage>.OfReceiveArray(frames, ConnectionArrayPool.For(_settings.BufferPool), reserved));
            }
        }
        else
        {
            input.Consume(consumed);
        }
    }

    /// <summary>Until the budget has room for <paramref name="bytes"/>, or the connection closes (a timeout, a stop).</summary>
    private async Task WaitForMemoryAsync(MemoryBudget budget, int bytes)
    {
        _awaitingData = true; // the timeout clocks run: the peer's unfinished frame holds the memory
        await budget.WaitUntilAsync(() => IsClosing || budget.HasRoomFor(bytes), WhenFlushed()).ConfigureAwait(false);
        _awaitingData = false;
    }
}
