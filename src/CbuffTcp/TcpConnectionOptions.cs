using System.Buffers;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CbuffTcp;

/// <summary>Per-connection settings shared by <see cref="TcpServerOptions"/> and <see cref="TcpClientOptions"/>.</summary>
public abstract class TcpConnectionOptions
{
    /// <summary>
    /// When true, receive callbacks leave the read loop (the seed's <c>AsyncReceive</c>): the read loop keeps reading
    /// and decoding while the handler works, through a per-connection queue bounded by
    /// <see cref="AsyncReceiveQueueMaxBytes"/>. Messages of one connection still arrive in order, callbacks for one
    /// connection never overlap, and every message read before the peer's FIN is handled (and its replies sent) before
    /// the connection closes. Messages are decoded once: views into the receive buffer leave with the buffer they
    /// point into, so nothing is copied. Defaults to false.
    /// </summary>
    public bool AsyncReceive { get; set; }

    /// <summary>
    /// With <see cref="AsyncReceive"/>, how many received bytes may wait for the handler before reading from that
    /// connection pauses (a queue holding less always takes the next read, so one frame larger than this still goes
    /// through). Defaults to 1 MiB.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int AsyncReceiveQueueMaxBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The most bytes one client may have queued or being written. A message that does not fit is refused with
    /// <see cref="SendResult.QueueFull"/>; one message is always accepted into an empty queue, so a single message
    /// larger than this limit can still be sent. Defaults to 4 MiB.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int SendQueueMaxBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most messages one client may have queued or being written. Defaults to 65,536.</summary>
    [Range(1, int.MaxValue)]
    public int SendQueueMaxMessages { get; set; } = 65_536;

    /// <summary>What a send does when the queue is full. Defaults to <see cref="SlowConsumerPolicy.RejectSend"/>.</summary>
    public SlowConsumerPolicy SlowConsumerPolicy { get; set; } = SlowConsumerPolicy.RejectSend;

    /// <summary>
    /// How long closing a connection may spend flushing what was queued before it aborts the socket. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan CloseFlushTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Which threads run connections' socket work and handler calls: CbuffTcp's own I/O threads where they run (the
    /// default, <see cref="IoMode.Auto"/>; a handler must not block them), or the .NET thread pool. See
    /// <see cref="CbuffTcp.IoMode"/>.
    /// </summary>
    public IoMode IoMode { get; set; } = DefaultIoMode;

    /// <summary>
    /// On the I/O threads (<see cref="IoMode.Auto"/> on Linux, or <see cref="IoMode.IoThreads"/>): how long an I/O thread may stay inside one connection's callback (or its
    /// protocol) before that is reported as a blocked thread: a warning naming the thread, the connection and the
    /// callback (log event 44), the metric <c>cbufftcp.io_thread.blocked</c>, and the handler's <c>OnError</c>, once per
    /// stall. Every connection of a blocked I/O thread waits, so a callback there must not block. Checked twice a second,
    /// so a stall is reported between this long and a second more.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns it off. Defaults to 1 second.
    /// </summary>
    public TimeSpan BlockedThreadWarning { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The default of <see cref="IoMode"/>; the test suite runs a second time on the thread pool through it.</summary>
    internal static IoMode DefaultIoMode { get; set; } = IoMode.Auto;

    /// <summary>
    /// When true, <see cref="ITcpHandler{TMessage}.OnSent"/> is called for every message written. It costs a record
    /// per message and a decode per sent message, so it is off unless asked for. Defaults to false.
    /// </summary>
    public bool NotifySent { get; set; }

    /// <summary>Disables Nagle's algorithm: small messages leave at once. Defaults to true.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// A connection from which nothing was received for this long, while it had nothing left to process, is closed
    /// with <see cref="DisconnectReason.IdleTimeout"/>. <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// Defaults to 10 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Once part of a frame has arrived, the rest must arrive within this time, or the connection is closed with
    /// <see cref="DisconnectReason.FrameTimeout"/>. Bytes trickling in do not restart it; only a completed frame does.
    /// It does not run while reading is paused because the handler is behind. <see cref="Timeout.InfiniteTimeSpan"/>
    /// turns it off. Defaults to 30 seconds.
    /// </summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The clock for every timeout (tests pass a fake one). Timeouts are checked by one timer per server or client
    /// connector, never one per message. Defaults to <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Where log events go (category <see cref="CbuffTcpTelemetry.LoggerCategory"/>): lifecycle at Information,
    /// each connection at Debug, client errors at Warning. None when null. Event ids: docs/telemetry.md.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The logger of a server or client connector built with these options (a no-op one without a factory).</summary>
    internal ILogger CreateLogger() => (LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger(CbuffTcpTelemetry.LoggerCategory);

    /// <summary>Where receive, send and queue buffers come from; tests count rentals through it to prove every buffer goes back.</summary>
    internal ArrayPool<byte> BufferPool { get; set; } = ArrayPool<byte>.Shared;

    internal virtual void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(AsyncReceiveQueueMaxBytes, 1, nameof(AsyncReceiveQueueMaxBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendQueueMaxBytes, 1, nameof(SendQueueMaxBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendQueueMaxMessages, 1, nameof(SendQueueMaxMessages));
        ArgumentOutOfRangeException.ThrowIfLessThan(CloseFlushTimeout, TimeSpan.Zero, nameof(CloseFlushTimeout));
        ValidateTimeout(IdleTimeout, nameof(IdleTimeout));
        ValidateTimeout(FrameTimeout, nameof(FrameTimeout));
        ValidateTimeout(BlockedThreadWarning, nameof(BlockedThreadWarning));
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        if (!Enum.IsDefined(SlowConsumerPolicy))
        {
            throw new ArgumentOutOfRangeException(nameof(SlowConsumerPolicy), SlowConsumerPolicy, "Unknown slow-consumer policy.");
        }
    }

    private static void ValidateTimeout(TimeSpan value, string name)
    {
        if (value != Timeout.InfiniteTimeSpan && value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive, or Timeout.InfiniteTimeSpan to turn it off.");
        }
    }
}
