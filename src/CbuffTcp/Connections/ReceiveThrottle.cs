using System.Threading.RateLimiting;

namespace CbuffTcp.Connections;

/// <summary>
/// A connection's receive rate limits (<see cref="TcpServerOptions.MessageRatePerConnection"/>,
/// <see cref="TcpServerOptions.ByteRatePerConnection"/>): a token bucket of a second's worth of each, from
/// System.Threading.RateLimiting, refilled by the server's heartbeat (no timer per connection; each refill adds what the
/// time since the last one earned, so the rate holds however late a tick comes). The receive loop takes tokens a tenth
/// of a second's worth at a time and reads, or decodes, no more than it holds: when the bucket is empty it waits for a
/// refill, so the read pauses (the kernel's buffer and then TCP's flow control hold the peer back) and nothing is dropped.
/// </summary>
internal sealed class ReceiveThrottle(int? bytesPerSecond, int? messagesPerSecond) : IDisposable
{
    /// <summary>How often the heartbeat refills the buckets at least: how long a paused read waits past its due at most.</summary>
    public static readonly TimeSpan RefillInterval = TimeSpan.FromMilliseconds(100);

    private readonly Bucket? _bytes = bytesPerSecond is { } bytes ? new Bucket(bytes) : null;
    private readonly Bucket? _messages = messagesPerSecond is { } messages ? new Bucket(messages) : null;

    /// <summary>Bytes the next read may take: what is held of the byte bucket (once <see cref="WaitForBytesAsync"/> returned true).</summary>
    public int ReadAllowance => _bytes?.Held ?? int.MaxValue;

    /// <summary>Messages the next decode may deliver: what is held of the message bucket.</summary>
    public int DecodeAllowance => _messages?.Held ?? int.MaxValue;

    /// <summary>True when the next read may take some bytes (tokens held, or taken now); false when it must wait for them first.</summary>
    public bool HasBytes() => _bytes is null || _bytes.Held > 0 || _bytes.TryTake();

    /// <summary>True when the next decode may deliver some messages (tokens held, or taken now); false when it must wait for them first.</summary>
    public bool HasMessages() => _messages is null || _messages.Held > 0 || _messages.TryTake();

    /// <summary>Waits for byte tokens, or until the connection closes (then none are held).</summary>
    public ValueTask WaitForBytesAsync() => _bytes!.TakeAsync();

    /// <summary>Waits for message tokens, or until the connection closes (then none are held).</summary>
    public ValueTask WaitForMessagesAsync() => _messages!.TakeAsync();

    /// <summary>Counts what a read took.</summary>
    public void Read(int bytes) => _bytes?.Use(bytes);

    /// <summary>Counts what a decode delivered.</summary>
    public void Decoded(int messages) => _messages?.Use(messages);

    /// <summary>The heartbeat: each bucket gets what the time since its last refill earned (the limiter measures it), and a paused read what it waits for.</summary>
    public void Refill()
    {
        _bytes?.Limiter.TryReplenish();
        _messages?.Limiter.TryReplenish();
    }

    /// <summary>At the connection's close: a wait under way ends (its lease fails).</summary>
    public void Dispose()
    {
        _bytes?.Limiter.Dispose();
        _messages?.Limiter.Dispose();
    }

    /// <summary>One bucket, and the tokens the receive loop took from it and has not used yet (only the receive loop touches them).</summary>
    private sealed class Bucket(int perSecond)
    {
        // Taken a tenth of a second's worth at a time: few calls into the limiter, and little held back unused.
        private readonly int _chunk = Math.Max(1, perSecond / 10);

        public TokenBucketRateLimiter Limiter { get; } = new(new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            AutoReplenishment = false, // the heartbeat refills every connection's buckets: no timer each
            QueueLimit = Math.Max(1, perSecond / 10),
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });

        public int Held { get; private set; }

        public bool TryTake()
        {
            using var lease = Limiter.AttemptAcquire(_chunk);
            Held = lease.IsAcquired ? _chunk : 0;
            return lease.IsAcquired;
        }

        public async ValueTask TakeAsync()
        {
            using var lease = await Limiter.AcquireAsync(_chunk).ConfigureAwait(false);
            Held = lease.IsAcquired ? _chunk : 0;
        }

        public void Use(int count) => Held -= Math.Min(count, Held);
    }
}
