using System.Buffers;

namespace CbuffTcp.Connections;

/// <summary>
/// One client's bounded queue of packed bytes. Any thread appends; the client's write loop takes everything queued
/// at once, as one contiguous buffer, and sends it with one call. Bytes are counted exactly, from enqueue until the
/// send that carried them completed, against both limits.
/// </summary>
/// <remarks>
/// The lock guards a memcpy and a few counters, never user code: producers pack outside it (see <see cref="PackBuffer"/>).
/// An idle queue holds no buffer: the write loop returns each buffer to the pool after sending it.
/// </remarks>
internal sealed class SendQueue
{
    private const int InitialBufferSize = 4096;

    private readonly Lock _lock = new();
    private readonly AsyncSignal _signal = new();
    private readonly int _maxBytes;
    private readonly int _maxMessages;
    private readonly ArrayPool<byte> _pool;

    // A pack buffer's array comes from the shared pool, and the queue returns its buffers to its own pool: it can take
    // one over only when the two are the same.
    private readonly bool _adoptsPackBuffers;

    private byte[]? _pending;
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

    public SendQueue(int maxBytes, int maxMessages, bool recordMessageLengths, ArrayPool<byte> pool)
    {
        _pool = pool;
        _adoptsPackBuffers = ReferenceEquals(pool, ArrayPool<byte>.Shared);
        _maxBytes = maxBytes;
        _maxMessages = maxMessages;
        if (recordMessageLengths)
        {
            _pendingLengths = [];
            _spareLengths = [];
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

    /// <summary>Queues a copy of <paramref name="packet"/>.</summary>
    public SendResult TryEnqueue(ReadOnlySpan<byte> packet) => TryEnqueue(packet, adoptable: null);

    /// <summary>
    /// Queues what <paramref name="packed"/> holds. A message of at least <see cref="AdoptMinLength"/> bytes that finds the
    /// queue empty becomes the queue's buffer as it is (the pack buffer gives its array away): large replies are copied
    /// once, by the protocol's <c>Pack</c>, not twice.
    /// </summary>
    public SendResult TryEnqueue(PackBuffer packed) => TryEnqueue(packed.WrittenSpan, packed);

    /// <summary>Messages at least this large join an empty queue without a copy; smaller ones are cheaper to copy than to re-rent for.</summary>
    public const int AdoptMinLength = 16 * 1024;

    private SendResult TryEnqueue(ReadOnlySpan<byte> packet, PackBuffer? adoptable)
    {
        bool wake;
        lock (_lock)
        {
            if (_completed)
            {
                return SendResult.Closed;
            }

            var queuedBytes = _pendingBytes + _inFlightBytes;
            if (_pendingMessages + _inFlightMessages >= _maxMessages ||
                (queuedBytes > 0 && (long)queuedBytes + packet.Length > _maxBytes))
            {
                return SendResult.QueueFull;
            }

            if (_pending is null && adoptable is not null && packet.Length >= AdoptMinLength && _adoptsPackBuffers)
            {
                _pending = adoptable.Detach();
            }
            else
            {
                EnsurePendingCapacity(_pendingBytes + packet.Length);
                packet.CopyTo(_pending.AsSpan(_pendingBytes));
            }

            _pendingBytes += packet.Length;
            _pendingMessages++;
            _pendingLengths?.Add(packet.Length);
            wake = _writerWaiting;
            _writerWaiting = false;
        }

        if (wake)
        {
            WakeWriter();
        }

        return SendResult.Queued;
    }

    /// <summary>
    /// For the write loop: takes everything queued. When nothing is, arms the wake-up and returns
    /// <see cref="TakeOutcome.Wait"/> (then await <see cref="WaitAsync"/>), or <see cref="TakeOutcome.Completed"/>
    /// once the queue is completed and drained.
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

                _signal.Reset();
                _writerWaiting = true;
                return TakeOutcome.Wait;
            }

            outgoing = new OutgoingBytes(_pending!, _pendingBytes, _pendingMessages, _pendingLengths);
            _inFlightBytes = _pendingBytes;
            _inFlightMessages = _pendingMessages;
            _pending = null;
            _pendingBytes = 0;
            _pendingMessages = 0;
            (_pendingLengths, _spareLengths) = (_spareLengths, _pendingLengths);
            return TakeOutcome.Taken;
        }
    }

    public ValueTask WaitAsync() => _signal.WaitAsync();

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
                queue._signal.Set();
            }

            held.Clear();
        }

        if (_wakeDeferred)
        {
            _wakeDeferred = false;
            Volatile.Write(ref _inlineWakeups, _inlineWakeups + 1);
            _signal.SetInline();
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

        _signal.Set();
    }

    /// <summary>For the write loop, once the bytes it took were written (or failed): frees them from the limits.</summary>
    public void Release(in OutgoingBytes outgoing)
    {
        if (outgoing.Buffer is { Length: > 0 } buffer)
        {
            _pool.Return(buffer);
        }

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
        byte[]? pending;
        int dropped;
        lock (_lock)
        {
            _completed = true;
            pending = _pending;
            dropped = _pendingMessages;
            _pending = null;
            _pendingBytes = 0;
            _pendingMessages = 0;
            _pendingLengths?.Clear();
        }

        if (pending is not null)
        {
            _pool.Return(pending);
        }

        return dropped;
    }

    private void EnsurePendingCapacity(int needed)
    {
        if (_pending is not null && needed <= _pending.Length)
        {
            return;
        }

        // Doubling, but never past the byte limit: a queue at its cap holds a buffer of about its cap, not twice that.
        var doubled = Math.Min(Math.Max(InitialBufferSize, (_pending?.Length ?? 0) * 2), _maxBytes);
        var grown = _pool.Rent(Math.Max(needed, doubled));
        if (_pending is not null)
        {
            _pending.AsSpan(0, _pendingBytes).CopyTo(grown);
            _pool.Return(_pending);
        }

        _pending = grown;
    }
}

internal enum TakeOutcome
{
    Taken,
    Wait,
    Completed,
}

/// <summary>The bytes one write-loop pass took: <see cref="Length"/> bytes of <see cref="Buffer"/>, holding <see cref="Messages"/> messages.</summary>
internal readonly record struct OutgoingBytes(byte[] Buffer, int Length, int Messages, List<int>? MessageLengths)
{
    public ReadOnlyMemory<byte> Memory => Buffer.AsMemory(0, Length);
}
