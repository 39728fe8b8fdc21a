using System.Buffers;
using System.Threading.Channels;

namespace CbuffTcp.Connections;

/// <summary>
/// AsyncReceive's per-connection queue between the receive loop (the one writer) and the dispatch loop (the one
/// reader), bounded in bytes: once what it holds passes the limit, the receive loop stops reading until the handler
/// has worked it back under (an empty queue takes anything, so a frame larger than the limit still goes through).
/// On a server, what it holds counts against the memory budget too, whole, from the moment it is queued until it is
/// taken: the receive loop of a connection whose queue holds something reads no further while the budget is spent.
/// </summary>
internal sealed class DispatchQueue<TMessage>(int maxBytes, MemoryBudget? budget)
{
    private readonly Channel<ReceivedBatch<TMessage>> _items = Channel.CreateUnbounded<ReceivedBatch<TMessage>>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

    private readonly AsyncSignal _room = new();
    private long _bytes;
    private int _writerWaiting;

    public ChannelReader<ReceivedBatch<TMessage>> Reader => _items.Reader;

    /// <summary>Bytes the queue holds now.</summary>
    public long QueuedBytes => Volatile.Read(ref _bytes);

    /// <summary>Queues <paramref name="item"/>; the queue owns its arrays from here on.</summary>
    public void Enqueue(ReceivedBatch<TMessage> item)
    {
        if (budget is not null && item.Bytes > item.Reserved)
        {
            budget.Add(item.Bytes - item.Reserved); // already received: counted, never refused (the read pauses instead)
        }

        Interlocked.Add(ref _bytes, item.Bytes);
        if (!_items.Writer.TryWrite(item))
        {
            Taken(item); // completed: the dispatch loop has ended, so nobody else will return them
        }
    }

    /// <summary>The receive loop, after a read's batches are queued: completes once the queue is within its limit.</summary>
    public ValueTask WaitForRoomAsync()
    {
        if (Volatile.Read(ref _bytes) <= maxBytes)
        {
            return ValueTask.CompletedTask;
        }

        _room.Reset();
        Volatile.Write(ref _writerWaiting, 1);

        // Whoever clears the flag first owns the wake-up: the reader (it calls Set), or this check (no wait at all).
        if (Volatile.Read(ref _bytes) <= maxBytes && Interlocked.Exchange(ref _writerWaiting, 0) == 1)
        {
            return ValueTask.CompletedTask;
        }

        return _room.WaitAsync();
    }

    /// <summary>The dispatch loop is done with <paramref name="item"/>: its arrays go back and its bytes leave the count.</summary>
    public void Taken(ReceivedBatch<TMessage> item)
    {
        item.Return();
        if (budget is not null && item.Bytes > 0)
        {
            budget.Release(item.Bytes);
        }

        if (Interlocked.Add(ref _bytes, -item.Bytes) <= maxBytes && Volatile.Read(ref _writerWaiting) == 1 && Interlocked.Exchange(ref _writerWaiting, 0) == 1)
        {
            _room.Set();
        }
    }

    /// <summary>
    /// The receive loop, after <see cref="WaitForRoomAsync"/>: while this queue holds something and the server's budget
    /// is spent, read no further (what the handler works off frees memory and wakes it). An empty queue never waits:
    /// a connection that holds nothing is served as usual. Completes early when <paramref name="closing"/> does.
    /// </summary>
    public ValueTask WaitForMemoryAsync(Task closing) =>
        budget is null || HasRoomOrNothingQueued(budget) ? ValueTask.CompletedTask : new(budget.WaitUntilAsync(() => HasRoomOrNothingQueued(budget), closing));

    private bool HasRoomOrNothingQueued(MemoryBudget budget) => QueuedBytes == 0 || budget.HasRoomFor(0);

    /// <summary>The receive loop, before it reads again: <see cref="WaitForRoomAsync"/>, then <see cref="WaitForMemoryAsync"/>.</summary>
    public ValueTask WaitBeforeReadingAsync(Task closing)
    {
        var room = WaitForRoomAsync();
        return room.IsCompletedSuccessfully ? WaitForMemoryAsync(closing) : WaitForRoomThenMemoryAsync(room, closing);
    }

    private async ValueTask WaitForRoomThenMemoryAsync(ValueTask room, Task closing)
    {
        await room.ConfigureAwait(false);
        await WaitForMemoryAsync(closing).ConfigureAwait(false);
    }

    /// <summary>No more items: the dispatch loop ends once it has taken what is queued.</summary>
    public void Complete() => _items.Writer.TryComplete();
}

/// <summary>
/// One entry of the AsyncReceive queue: a decoded batch (its message array rented from the shared pool), or the
/// receive array the batches before it point into, to go back to its pool once they are handled.
/// </summary>
internal readonly struct ReceivedBatch<TMessage>
{
    private readonly TMessage[]? _messages;
    private readonly int _count;
    private readonly byte[]? _bytes;
    private readonly ArrayPool<byte>? _pool;

    private ReceivedBatch(TMessage[]? messages, int count, byte[]? bytes, ArrayPool<byte>? pool, long size, int reserved = 0)
    {
        _messages = messages;
        _count = count;
        _bytes = bytes;
        _pool = pool;
        Bytes = size;
        Reserved = reserved;
    }

    /// <summary>What the entry counts against the queue's limit (and the server's memory budget).</summary>
    public long Bytes { get; }

    /// <summary>What the budget reserved for the entry before it was queued (a receive array's part past the free floor).</summary>
    public int Reserved { get; }

    public bool HasMessages => _count > 0;

    public MessageBatch<TMessage> Messages => new(_messages!, _count);

    /// <summary>Decoded messages: <paramref name="frameBytes"/> is what their frames took on the wire.</summary>
    public static ReceivedBatch<TMessage> OfMessages(TMessage[] messages, int count, long frameBytes) => new(messages, count, null, null, frameBytes);

    /// <summary>A receive array handed over with the frames decoded from it, <paramref name="reserved"/> bytes of it already in the budget.</summary>
    public static ReceivedBatch<TMessage> OfReceiveArray(byte[] array, ArrayPool<byte> pool, int reserved) => new(null, 0, array, pool, array.Length, reserved);

    public void Return()
    {
        if (_messages is not null)
        {
            Array.Clear(_messages, 0, _count);
            ArrayPool<TMessage>.Shared.Return(_messages);
        }

        _pool?.Return(_bytes!);
    }
}
