using System.Buffers;
using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp.Connections;

/// <summary>Takes a packed message: <paramref name="state"/> by reference, so a struct's counts reach the caller with no allocation.</summary>
internal delegate SendResult PackedMessageHandler<TState>(ref TState state, PackBuffer packed);

/// <summary>Takes packed messages laid end to end in <paramref name="packed"/>, the <paramref name="lengths"/> of each in order.</summary>
internal delegate void PackedBatchHandler<TState>(ref TState state, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths);

/// <summary>
/// Packs a message into this thread's <see cref="PackBuffer"/> and hands the bytes on. A throwing <c>Pack</c> is
/// logged, reported through the handler's <c>OnError</c> and becomes <see cref="SendResult.PackFailed"/>, never an exception
/// on the sender's hot path.
/// </summary>
internal sealed class MessagePacker<TMessage>(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, ILogger logger)
{
    // A received batch holds at most 256 messages: its lengths fit on the stack.
    private const int MaxStackLengths = ConnectionSettings.MaxBatchSize;

    /// <summary>
    /// The server's memory budget (set at each start; null on a client): a pack buffer that grows past its retained
    /// size reserves from it, and a refusal makes the send <see cref="SendResult.QueueFull"/>.
    /// </summary>
    public MemoryBudget? Budget { get; set; }

    /// <summary>Packs, then calls <paramref name="enqueue"/> with the packed bytes (which it may copy or, once, <see cref="PackBuffer.Detach"/>).</summary>
    public SendResult Pack<TState>(in TMessage message, ref TState state, PackedMessageHandler<TState> enqueue)
    {
        var buffer = PackBuffer.Rent(Budget);
        try
        {
            try
            {
                protocol.Pack(message, buffer);
            }
            catch (MemoryBudgetRefusedException)
            {
                return SendResult.QueueFull; // counted and logged by the budget
            }
            catch (Exception ex)
            {
                ReportPackError(ex);
                return SendResult.PackFailed;
            }

            return enqueue(ref state, buffer);
        }
        finally
        {
            PackBuffer.Return(buffer);
        }
    }

    /// <summary>
    /// Packs every message of <paramref name="messages"/> end to end, then calls <paramref name="enqueue"/> once with
    /// all the bytes and each message's length (if any packed). A message whose <c>Pack</c> throws is reported and left
    /// out. False, with nothing handed on, when the memory budget refused the room to pack them all (the send is
    /// <see cref="SendResult.QueueFull"/>: a batch goes whole or not at all).
    /// </summary>
    public bool PackAll<TState>(ReadOnlySpan<TMessage> messages, ref TState state, PackedBatchHandler<TState> enqueue)
    {
        int[]? rented = null;
        Span<int> lengths = messages.Length <= MaxStackLengths
            ? stackalloc int[messages.Length]
            : (rented = ArrayPool<int>.Shared.Rent(messages.Length));
        var buffer = PackBuffer.Rent(Budget);
        try
        {
            var count = 0;
            foreach (ref readonly var message in messages)
            {
                var start = buffer.WrittenSpan.Length;
                try
                {
                    protocol.Pack(message, buffer);
                    lengths[count++] = buffer.WrittenSpan.Length - start;
                }
                catch (MemoryBudgetRefusedException)
                {
                    return false;
                }
                catch (Exception ex)
                {
                    buffer.Truncate(start);
                    ReportPackError(ex);
                }
            }

            if (count > 0)
            {
                enqueue(ref state, buffer.WrittenSpan, lengths[..count]);
            }

            return true;
        }
        finally
        {
            PackBuffer.Return(buffer);
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    private void ReportPackError(Exception ex)
    {
        var message = $"{protocol.GetType().Name}.Pack threw {ex.GetType().Name}: {ex.Message}";
        Log.PackFailed(logger, protocol.GetType().Name, ex.GetType().Name, ex.Message, ex);
        try
        {
            handler.OnError(message, ex);
        }
        catch (Exception handlerError)
        {
            // The caller still learns of the failure through PackFailed; the log has the error handler's failure.
            Log.ErrorHandlerFailed(logger, message, handlerError);
        }
    }
}
