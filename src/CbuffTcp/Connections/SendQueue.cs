using System.Buffers;

namespace CbuffTcp.Connections;

/// <summary>
/// One client's bounded queue of packed bytes. Any thread appends; the client's write loop takes everything queued
/// at once and writes it in order. Bytes are counted exactly, from enqueue until the write that carried them
/// completed, against both limits.
/// </summary>
/// <remarks>
/// The bytes sit in a list of pooled arrays, each written once and never moved: small messages are copied into the
/// last array while it has room (a burst of small replies goes out as one buffer), a new array is added when it has
/// none, and a large message packed for this client alone joins as its pack buffer's own array, with no copy at all.
/// The lock guards a memcpy and a few counters, never user code: producers pack outside it (see <see cref="PackBuffer"/>).
/// An idle queue holds no array: the write loop returns each to the pool after writing it.
/// </remarks>
internal sealed class SendQueue : IThreadPoolWorkItem
{
    private const int FirstChunkSize = ConnectionArrayPool.MinLength;

    // Later chunks of a burst double up to this, so a long backlog of small messages is a few dozen arrays, not thousands.
    private const int MaxChunkSize = 64 * 1024;

    // A Lock, not the queue's own monitor: a contended monitor is inflated to a sync block, which the runtime may make
    // again after a collection. With the monitor, a thread-pool echo allocated 107 B per message in one CI run.
    private readonly Lock _lock = new();

    private readonly int _maxBytes;
    private readonly int _maxMessages;
    private readonly ArrayPool<byte> _pool;
    private readonly MemoryBudget? _budget;

    // A pack buffer's array comes from ConnectionArrayPool.Default, and the queue returns its arrays to its own pool: it can
    // take one over only when that is the same pool (else the arrays would drain from one pool into the other).
    private readonly bool _adoptsPackBuffers;

    // Queued arrays in order; the last one takes copies while it has room. The write loop's arrays in flight are in
    // _takenSegments: the two lists swap at each take, so neither is allocated again once grown.
    private SendSegment[] _segments = [];
    private int _segmentCount;
    private SendSegment[] _takenSegments = [];
    private int _pendingBytes;
    private int _pendingMessages;
    private List<int>? _pendingLengths;
    private List<int>? _spareLengths;
    private int _inFlightBytes;
    private int _inFlightMessages;
    private bool _writerWaiting;
    private bool _completed;
    private bool _wakeDeferred;
    private long _inlineWakeups;

    // The queue whose write-loop wake-up this thread holds back (see BeginDeferringWake).
    [ThreadStatic]
    private static SendQueue? t_deferringWake;

    // Other clients' write loops this thread woke while deferring: woken together when the handler returns.
    [ThreadStatic]
    private static List<SendQueue>? t_heldWakes;

    public SendQueue(int maxBytes, int maxMessages, bool recordMessageLengths, ArrayPool<byte> pool, MemoryBudget? budget = null)
    {
        _pool = ConnectionArrayPool.For(pool); // keeps what a broadcast's burst needs
        _budget = budget;
        _adoptsPackBuffers = ReferenceEquals(_pool, ConnectionArrayPool.Default);
        _maxBytes = maxBytes;
        _maxMessages = maxMessages;
        if (recordMessageLengths)
        {
            _pendingLengths = [];
            _spareLengths = [];
        }
    }

    /// <summary>
    /// Who writes this queue out: started when bytes arrive while no write pass runs. None for a queue that is only
    /// filled and drained by hand (a reconnecting client's outbox, tests).
    /// </summary>
    public IQueueWriter? Writer { get; init; }

    /// <summary>Messages queued or being written now.</summary>
    public int QueuedMessages
    {
        get
        {
            lock (_lock)
            {
                return _pendingMessages + _inFlightMessages;
            }
        }
    }

    /// <summary>Bytes queued or being written now.</summary>
    public int QueuedBytes
    {
        get
        {
            lock (_lock)
            {
                return _pendingBytes + _inFlightBytes;
            }
        }
    }

    /// <summary>
    /// Queues a copy of messages laid end to end in <paramref name="packed"/> (<paramref name="lengths"/>: each one's),
    /// all or none of them, with one lock and one copy: a broadcast of a received batch costs each client one enqueue.
    /// </summary>
    public SendResult TryEnqueue(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) => TryEnqueue(packed, lengths, adoptable: null);

    /// <summary>
    /// Queues what <paramref name="packed"/> holds. A message of at least <see cref="AdoptMinLength"/> bytes joins the
    /// queue as it is (the pack buffer gives its array away): large replies are copied once, by the protocol's
    /// <c>Pack</c>, not twice.
    /// </summary>
    public SendResult TryEnqueue(PackBuffer packed)
    {
        var length = packed.WrittenSpan.Length;
        return TryEnqueue(packed.WrittenSpan, new ReadOnlySpan<int>(in length), packed);
    }

    /// <summary>Messages at least this large join the queue without a copy; smaller ones are cheaper to copy than to re-rent for.</summary>
    public const int AdoptMinLength = 16 * 1024;

    /// <summary>A copy of a broadcast's bytes for queues like this one to hold by reference: from its pool, against its memory budget.</summary>
    public SharedSendBytes? Share(ReadOnlySpan<byte> packed) => SharedSendBytes.Create(packed, _pool, _budget);

    /// <summary>
    /// Queues a broadcast's bytes that other queues hold too, by reference (no copy): <paramref name="shared"/> gains a
    /// reference while this queue holds them. The caller must hold a reference of its own for the call.
    /// </summary>
    public SendResult TryEnqueue(SharedSendBytes shared, ReadOnlySpan<int> lengths)
    {
        bool wake;
        lock (_lock)
        {
            if (Refuses(shared.Length, lengths.Length) is { } refused)
            {
                return refused;
            }

            shared.AddReference();
            AddSegment(new SendSegment(shared.Array, shared.Length, shared: shared));
            wake = Added(shared.Length, lengths);
        }

        if (wake)
        {
            WakeWriter();
        }

        return SendResult.Queued;
    }

    private SendResult TryEnqueue(ReadOnlySpan<byte> packet, ReadOnlySpan<int> lengths, PackBuffer? adoptable)
    {
        bool wake;
        lock (_lock)
        {
            if (Refuses(packet.Length, lengths.Length) is { } refused)
            {
                return refused;
            }

            if (adoptable is not null && packet.Length >= AdoptMinLength && _adoptsPackBuffers)
            {
                // A pack buffer that grew past its retained size reserved its array already: the reservation comes with it.
                var reserved = adoptable.Reserved;
                if (reserved == 0 && !Reserve(adoptable.Capacity, out reserved))
                {
                    return SendResult.QueueFull; // the pack buffer keeps its array
                }

                AddSegment(new SendSegment(adoptable.Detach(), packet.Length, reserved));
            }
            else if (!CopyToTail(packet))
            {
                return SendResult.QueueFull; // the server's memory budget refused the array it needed
            }

            wake = Added(packet.Length, lengths);
        }

        if (wake)
        {
            WakeWriter();
        }

        return SendResult.Queued;
    }

    /// <summary>Under the lock: why this queue cannot take that many bytes and messages now, or null when it can.</summary>
    private SendResult? Refuses(int bytes, int messages)
    {
        if (_completed)
        {
            return SendResult.Closed;
        }

        // An empty queue takes anything (one message past the byte cap must still be sendable); otherwise both caps hold.
        var queuedBytes = _pendingBytes + _inFlightBytes;
        var queuedMessages = _pendingMessages + _inFlightMessages;
        if ((queuedMessages > 0 && (long)queuedMessages + messages > _maxMessages) ||
            (queuedBytes > 0 && (long)queuedBytes + bytes > _maxBytes))
        {
            return SendResult.QueueFull;
        }

        return null;
    }

    /// <summary>Under the lock: counts what was just queued; true when the write loop was waiting and must be woken.</summary>
    private bool Added(int bytes, ReadOnlySpan<int> lengths)
    {
        _pendingBytes += bytes;
        _pendingMessages += lengths.Length;
        _pendingLengths?.AddRange(lengths);
        var wake = _writerWaiting;
        _writerWaiting = false;
        return wake;
    }

    /// <summary>
    /// Appends everything <paramref name="outbox"/> holds (a reconnecting client's messages sent while disconnected),
    /// as its arrays, with no copy, past this queue's limits: the outbox was bounded by its own. False, leaving the
    /// outbox as it was, when this queue no longer takes messages.
    /// </summary>
    public bool AppendAllOf(SendQueue outbox)
    {
        bool wake;
        lock (outbox._lock)
        {
            lock (_lock)
            {
                if (_completed)
                {
                    return false;
                }

                for (var i = 0; i < outbox._segmentCount; i++)
                {
                    AddSegment(outbox._segments[i]); // a client's: no server budget
                }

                _pendingBytes += outbox._pendingBytes;
                _pendingMessages += outbox._pendingMessages;
                if (outbox._pendingLengths is { } lengths)
                {
                    _pendingLengths?.AddRange(lengths);
                    lengths.Clear();
                }

                outbox._segmentCount = 0;
                outbox._pendingBytes = 0;
                outbox._pendingMessages = 0;
                wake = _writerWaiting && _pendingMessages > 0;
                _writerWaiting &= !wake;
            }
        }

        if (wake)
        {
            WakeWriter();
        }

        return true;
    }

    /// <summary>
    /// For a write pass: takes everything queued. When nothing is, returns <see cref="TakeOutcome.Wait"/>: the pass
    /// ends, and the next bytes queued start another (<see cref="Writer"/>). <see cref="TakeOutcome.Completed"/> once the
    /// queue is completed and drained.
    /// </summary>
    public TakeOutcome TryTake(out OutgoingBytes outgoing)
    {
        lock (_lock)
        {
            if (_pendingMessages == 0)
            {
                outgoing = default;
                if (_completed)
                {
                    return TakeOutcome.Completed;
                }

                _writerWaiting = true;
                return TakeOutcome.Wait;
            }

            outgoing = new OutgoingBytes(_segments, _segmentCount, _pendingBytes, _pendingMessages, _pendingLengths);
            _inFlightBytes = _pendingBytes;
            _inFlightMessages = _pendingMessages;
            (_segments, _takenSegments) = (_takenSegments, _segments); // the write loop released the other list before this take
            _segmentCount = 0;
            _pendingBytes = 0;
            _pendingMessages = 0;
            (_pendingLengths, _spareLengths) = (_spareLengths, _pendingLengths);
            return TakeOutcome.Taken;
        }
    }

    /// <summary>Wake-ups that ran the write loop on the receiving thread (see <see cref="BeginDeferringWake"/>).</summary>
    public long InlineWakeups => Volatile.Read(ref _inlineWakeups);

    /// <summary>
    /// Until <see cref="EndDeferringWake"/> on this thread, a wake-up of the write loop is held back; then the write
    /// loop runs on this thread and sends everything queued meanwhile. The connection's receive path wraps its
    /// handler call in this: an echo goes out with no hop to another thread, and a batch's replies in one send.
    /// Wake-ups of other clients' write loops that the handler causes are held too, and go to the thread pool at the end.
    /// </summary>
    /// <returns>The queue this thread deferred for before (a handler's code can run another connection's handler), for <see cref="EndDeferringWake"/>.</returns>
    public SendQueue? BeginDeferringWake()
    {
        var outer = t_deferringWake;
        t_deferringWake = this;
        return outer;
    }

    /// <summary>
    /// Ends <see cref="BeginDeferringWake"/>: wakes the other clients' write loops the handler queued for (on the thread
    /// pool, each once for all it queued), then runs this one's here if a wake-up was held back.
    /// </summary>
    public void EndDeferringWake(SendQueue? outer)
    {
        t_deferringWake = outer;
        if (outer is null && t_heldWakes is { Count: > 0 } held)
        {
            foreach (var queue in held)
            {
                queue.StartWriterElsewhere();
            }

            held.Clear();
        }

        if (_wakeDeferred)
        {
            _wakeDeferred = false;
            Volatile.Write(ref _inlineWakeups, _inlineWakeups + 1);
            Writer?.RunWritePass();
        }
    }

    private void WakeWriter()
    {
        var deferring = t_deferringWake;
        if (ReferenceEquals(deferring, this))
        {
            _wakeDeferred = true; // only this thread reads it, in EndDeferringWake
            return;
        }

        if (deferring is not null)
        {
            // A handler sending to another client: that client's write loop wakes once the handler returns, with all
            // the handler queued for it in one send, rather than once per message. Only the thread that found the
            // writer waiting gets here, once per wait, so the queue is held at most once.
            (t_heldWakes ??= []).Add(this);
            return;
        }

        StartWriterElsewhere();
    }

    /// <summary>Starts the write pass on the thread pool: a producer never runs a socket send on its own stack.</summary>
    private void StartWriterElsewhere()
    {
        if (Writer is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }
    }

    void IThreadPoolWorkItem.Execute() => Writer!.RunWritePass();

    /// <summary>For the write loop, once the bytes it took were written (or failed): frees them from the limits.</summary>
    public void Release(in OutgoingBytes outgoing)
    {
        ReturnSegments(outgoing.Segments, outgoing.Count);
        outgoing.MessageLengths?.Clear();
        lock (_lock)
        {
            _inFlightBytes = 0;
            _inFlightMessages = 0;
        }
    }

    /// <summary>Refuses new messages from now on; the write loop drains what is queued, then sees <see cref="TakeOutcome.Completed"/>.</summary>
    public void Complete()
    {
        bool wake;
        lock (_lock)
        {
            _completed = true;
            wake = _writerWaiting;
            _writerWaiting = false;
        }

        if (wake)
        {
            WakeWriter();
        }
    }

    /// <summary>Completes the queue and drops what was not sent (after a failed send or an abort). Returns the messages dropped.</summary>
    public int CompleteAndDiscard()
    {
        SendSegment[] segments;
        int count;
        int dropped;
        lock (_lock)
        {
            _completed = true;
            segments = _segments;
            count = _segmentCount;
            dropped = _pendingMessages;
            _segmentCount = 0;
            _pendingBytes = 0;
            _pendingMessages = 0;
            _pendingLengths?.Clear();
        }

        ReturnSegments(segments, count); // completed: no enqueue or take touches the list again
        return dropped;
    }

    /// <summary>
    /// Copies a message to the end of the last array, or to a new one when it has no room: what is queued never moves.
    /// False when the memory budget refused the new array (nothing was queued).
    /// </summary>
    private bool CopyToTail(ReadOnlySpan<byte> packet)
    {
        if (_segmentCount > 0)
        {
            ref var tail = ref _segments[_segmentCount - 1];
            if (tail.Shared is null && tail.Array.Length - tail.Length >= packet.Length)
            {
                packet.CopyTo(tail.Array.AsSpan(tail.Length));
                tail.Length += packet.Length;
                return true;
            }
        }

        // Each new array of a burst twice the last, never past the byte limit (a queue at its cap holds about its cap).
        var size = _segmentCount == 0 ? FirstChunkSize : Math.Clamp(_segments[_segmentCount - 1].Array.Length * 2, FirstChunkSize, MaxChunkSize);
        var length = Math.Max(packet.Length, Math.Min(size, _maxBytes));
        if (!Reserve(MemoryBudget.PooledLength(length), out var reserved))
        {
            return false;
        }

        var chunk = _pool.Rent(length);
        if (chunk.Length > reserved && reserved > 0)
        {
            _budget!.Add(chunk.Length - reserved); // a pool that rounds up further than the shared one: counted all the same
            reserved = chunk.Length;
        }

        packet.CopyTo(chunk);
        AddSegment(new SendSegment(chunk, packet.Length, reserved));
        return true;
    }

    /// <summary>
    /// Reserves an array of <paramref name="length"/> bytes from the server's memory budget. The queue's floor is free: a
    /// first pending array of at most 4 KiB (a reply, a welcome) reserves nothing, so a queue holds at most two free
    /// arrays (that one, and the one its write loop is writing) and the common path touches no shared counter.
    /// </summary>
    private bool Reserve(int length, out int reserved)
    {
        reserved = 0;
        if (_budget is null || (_segmentCount == 0 && length <= FirstChunkSize))
        {
            return true;
        }

        reserved = length;
        return _budget.TryReserve(length);
    }

    private void AddSegment(in SendSegment segment)
    {
        if (_segmentCount == _segments.Length)
        {
            Array.Resize(ref _segments, Math.Max(4, _segments.Length * 2)); // grows once to what bursts need, then reused
        }

        _segments[_segmentCount++] = segment;
    }

    private void ReturnSegments(SendSegment[] segments, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (segments[i].Shared is { } shared)
            {
                shared.Release();
            }
            else if (segments[i].Array is { Length: > 0 } array)
            {
                _pool.Return(array);
            }

            if (segments[i].Reserved > 0)
            {
                _budget!.Release(segments[i].Reserved);
            }
        }

        Array.Clear(segments, 0, count);
    }
}

internal enum TakeOutcome
{
    Taken,
    Wait,
    Completed,
}
