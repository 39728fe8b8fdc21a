using System.Buffers;
using System.Net.Sockets;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Telemetry;

namespace CbuffTcp.Connections;

/// <summary>A snapshot of the per-connection options, taken once at start so later edits to the options object cannot race.</summary>
internal sealed record ConnectionSettings(
    bool AsyncReceive,
    int AsyncReceiveQueueMaxBytes,
    int SendQueueMaxBytes,
    int SendQueueMaxMessages,
    SlowConsumerPolicy SlowConsumerPolicy,
    int MaxFrameSize,
    TimeSpan CloseFlushTimeout,
    bool NotifySent,
    bool NoDelay,
    TimeSpan IdleTimeout,
    TimeSpan FrameTimeout,
    TimeProvider TimeProvider,
    ArrayPool<byte> BufferPool,
    IoMode IoMode,
    TimeSpan BlockedThreadWarning)
{
    /// <summary>Room for the frame's header and the read that completes it, on top of the frame itself.</summary>
    public const int ReceiveSlack = 64 * 1024;

    /// <summary>The first read after a wait reads up to this much.</summary>
    public const int MinReadSize = 4 * 1024;

    /// <summary>
    /// Reads that fill their buffer double the next one's size up to this, so bulk transfers take few calls. Larger than
    /// a 64 KiB frame with its header, so such frames do not each take two reads and a move of the part left over.
    /// </summary>
    public const int MaxReadSize = 256 * 1024;

    /// <summary>Reads that complete without waiting, in a row, before a connection yields its thread to others.</summary>
    public const int ReadsBeforeYield = 8;

    /// <summary>Messages handed to one <c>OnReceivedAsync</c> call at most; a longer read is delivered in several batches.</summary>
    public const int MaxBatchSize = 256;

    /// <summary>The largest frame a protocol may declare (<see cref="IProtocol{TMessage}.MaxFrameSize"/>): 1 GiB.</summary>
    public const int MaxFrameSizeLimit = 1024 * 1024 * 1024;

    /// <summary>Validates <paramref name="options"/> and snapshots them, with the frame limit of the protocol in use.</summary>
    public static ConnectionSettings From(TcpConnectionOptions options, int maxFrameSize)
    {
        options.Validate();
        if (maxFrameSize is < 1 or > MaxFrameSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(maxFrameSize), maxFrameSize, $"The protocol's MaxFrameSize must be from 1 to {MaxFrameSizeLimit} bytes.");
        }

        return new ConnectionSettings(
            options.AsyncReceive,
            options.AsyncReceiveQueueMaxBytes,
            options.SendQueueMaxBytes,
            options.SendQueueMaxMessages,
            options.SlowConsumerPolicy,
            maxFrameSize,
            options.CloseFlushTimeout,
            options.NotifySent,
            options.NoDelay,
            options.IdleTimeout,
            options.FrameTimeout,
            options.TimeProvider,
            options.BufferPool,
            options.IoMode,
            options.BlockedThreadWarning);
    }

    /// <summary>The server's memory budget, which its send queues reserve from; null on a client.</summary>
    public MemoryBudget? Budget { get; init; }

    /// <summary>Most messages per second a server's connection delivers (<see cref="TcpServerOptions.MessageRatePerConnection"/>); null when unlimited.</summary>
    public int? MessageRate { get; init; }

    /// <summary>Most bytes per second a server's connection reads (<see cref="TcpServerOptions.ByteRatePerConnection"/>); null when unlimited.</summary>
    public int? ByteRate { get; init; }

    /// <summary>True when a receive rate is limited: each connection has a throttle the heartbeat refills.</summary>
    public bool HasReceiveRates => MessageRate is not null || ByteRate is not null;

    /// <summary>The PROXY protocol on a server's connections; null when off (and always on a client).</summary>
    public ProxyProtocolOptions? ProxyProtocol { get; init; }

    /// <summary>Where connections log and count; set by the owner (server or client connector).</summary>
    public ConnectionTelemetry Telemetry { get; init; } = ConnectionTelemetry.None;

    /// <summary>The transport for a plain (not TLS) socket: on an I/O thread unless the thread pool was asked for or they cannot run, else the runtime's engine.</summary>
    public ConnectionTransport TransportFor(Socket socket) =>
        UsesIoThreads ? new IoSocket(socket) : new SocketTransport(socket);

    /// <summary>True when plain sockets run on the I/O threads: asked for (or left to <see cref="IoMode.Auto"/>) and available.</summary>
    public bool UsesIoThreads => IoMode != IoMode.ThreadPool && IoLoops.IsAvailable;

    /// <summary>True when some timeout is on, so a heartbeat has something to check.</summary>
    public bool HasTimeouts => IdleTimeout != Timeout.InfiniteTimeSpan || FrameTimeout != Timeout.InfiniteTimeSpan;

    /// <summary>True when the heartbeat has something to do: a timeout to check, or receive rates to refill.</summary>
    public bool NeedsHeartbeat => HasTimeouts || HasReceiveRates;

    /// <summary>
    /// How often timeouts are checked: a quarter of the shortest, between 10 ms and 1 s, so a timeout fires within 25%
    /// late; with receive rates, at most their refill interval.
    /// </summary>
    public TimeSpan HeartbeatInterval
    {
        get
        {
            if (!HasTimeouts)
            {
                return ReceiveThrottle.RefillInterval; // a heartbeat with receive rates to refill only
            }

            var shortest = IdleTimeout == Timeout.InfiniteTimeSpan ? FrameTimeout
                : FrameTimeout == Timeout.InfiniteTimeSpan ? IdleTimeout
                : TimeSpan.FromTicks(Math.Min(IdleTimeout.Ticks, FrameTimeout.Ticks));
            var interval = TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks));
            return HasReceiveRates && interval > ReceiveThrottle.RefillInterval ? ReceiveThrottle.RefillInterval : interval;
        }
    }
}
