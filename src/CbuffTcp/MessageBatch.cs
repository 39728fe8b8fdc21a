namespace CbuffTcp;

/// <summary>
/// The messages decoded from one read of one client, in the order they were sent (the seed's <c>pPacks</c>).
/// A batch and the messages in it are valid only until the <see cref="ITcpHandler{TMessage}.OnReceivedAsync"/>
/// call that received it completes: built-in protocols hand out views into the receive buffer, which is reused
/// afterwards. Passing a message to a send method inside the callback is safe (sends copy it); to keep one
/// for later, copy it (for example <c>message.ToArray()</c>).
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public readonly struct MessageBatch<TMessage>
{
    private readonly TMessage[]? _items;

    internal MessageBatch(TMessage[] items, int count)
    {
        _items = items;
        Count = count;
    }

    /// <summary>How many messages the batch holds (at least one when delivered to a handler).</summary>
    public int Count { get; }

    /// <summary>The message at <paramref name="index"/>.</summary>
    public TMessage this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return _items![index];
        }
    }

    /// <summary>The messages as a span, for synchronous code.</summary>
    public ReadOnlySpan<TMessage> AsSpan() => _items.AsSpan(0, Count);

    /// <summary>An allocation-free enumerator, usable across <c>await</c>.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Enumerates a <see cref="MessageBatch{TMessage}"/> without allocating.</summary>
    public struct Enumerator
    {
        private readonly MessageBatch<TMessage> _batch;
        private int _index;

        internal Enumerator(MessageBatch<TMessage> batch)
        {
            _batch = batch;
            _index = -1;
        }

        /// <summary>The current message.</summary>
        public readonly TMessage Current => _batch._items![_index];

        /// <summary>Moves to the next message.</summary>
        public bool MoveNext() => ++_index < _batch.Count;
    }
}
