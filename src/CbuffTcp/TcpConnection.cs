using System.Net;
using CbuffTcp.Connections;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Telemetry;

namespace CbuffTcp;

/// <summary>
/// One connection, as its handler sees it, on either side: a server's client or a client's server. Every callback
/// of that connection receives this same instance, so a handler replies with <see cref="Send(in TMessage)"/>, closes
/// with <see cref="Close"/> and keeps per-connection state in <see cref="State"/>, with no lookup by id.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>
/// <para>All members are thread-safe: a connection may be sent to from any thread, inside or outside its callbacks.
/// After the connection ended, sends return <see cref="SendResult.Closed"/> and closes do nothing.</para>
/// <para>Inside CbuffTcp this is the connection core itself: a receive loop (transport to protocol to handler), with
/// AsyncReceive a dispatch loop (ordered per-connection handler queue), and write passes (send queue to transport)
/// that run while there is something to send.
/// <c>RunAsync</c> owns the lifecycle: connected, the loops, then disconnected exactly once.</para>
/// </remarks>
public sealed partial class TcpConnection<TMessage> : IBlockedThreadObserver, IQueueWriter
{
    private readonly ConnectionTransport _transport;
    private readonly IProtocol<TMessage> _protocol;
    private readonly ITcpHandler<TMessage> _handler;
    private readonly ConnectionSettings _settings;
    private readonly IConnectionOwner<TMessage>? _owner;
    private readonly SendQueue _sendQueue;
    private volatile bool _ready;
    private long _writeLoopWakeups;
    private long _receivedMessages;
    private long _sentMessages;
    private long _sentBytes;
    private string? _runningCallback;
    private readonly long _connectedAt; // UTC ticks: half a DateTimeOffset, in every connection

    private readonly MessagePacker<TMessage> _packer;

    internal TcpConnection(
        long id,
        ConnectionTransport transport,
        IProtocol<TMessage> protocol,
        ITcpHandler<TMessage> handler,
        MessagePacker<TMessage> packer,
        ConnectionSettings settings,
        TcpServer<TMessage>? server = null)
    {
        Id = id;
        _connectedAt = settings.TimeProvider.GetUtcNow().UtcTicks;
        _owner = server;
        _packer = packer;
        _transport = transport;
        _protocol = protocol;
        _handler = handler;
        _settings = settings;
        _sendQueue = new SendQueue(settings.SendQueueMaxBytes, settings.SendQueueMaxMessages, settings.NotifySent, settings.BufferPool, settings.Budget) { Writer = this };
        if (settings.HasReceiveRates)
        {
            Rare.Throttle = new ReceiveThrottle(settings.ByteRate, settings.MessageRate);
        }
        if (settings.NotifySent)
        {
            Rare.CallbackGate = new SemaphoreSlim(1, 1);
        }

        if (transport.IoThreadSocket is { } ioSocket)
        {
            ioSocket.Observer = this;
        }
    }

    /// <summary>
    /// The connection's id: on a server, unique for the server's lifetime and never reused (the seed's client id); on a
    /// client, the number of this connect of its <see cref="TcpClient{TMessage}"/> (1, 2, …).
    /// </summary>
    public long Id { get; }

    /// <summary>The peer's address: the client's on a server, the server's on a client (the seed's <c>clientAddr</c>).</summary>
    public EndPoint? RemoteEndPoint => _rare?.ClientEndPoint ?? _transport.RemoteEndPoint;

    /// <summary>This side's address of the connection.</summary>
    public EndPoint? LocalEndPoint => _transport.LocalEndPoint;

    /// <summary>
    /// The peer's IP address as text, IPv4-mapped addresses shown as IPv4 (the seed's <c>clientIP</c>); for a Unix
    /// domain socket, its path (often empty for a client's unnamed socket); for the in-memory transport, its name.
    /// </summary>
    public string RemoteAddress => _remoteAddress ??= DescribeAddress(RemoteEndPoint);

    /// <summary>When the connection was accepted or established, on the options' <see cref="TcpConnectionOptions.TimeProvider"/>.</summary>
    public DateTimeOffset ConnectedAt => new(_connectedAt, TimeSpan.Zero);

    /// <summary>The server that accepted this connection, for broadcasts and other clients; null on a client's connection.</summary>
    public TcpServer<TMessage>? Server => _owner as TcpServer<TMessage>;

    /// <summary>
    /// The application's state for this connection (a session, a user, a name): set it in
    /// <see cref="ITcpHandler{TMessage}.OnConnectedAsync"/> and read it in later callbacks. Null until set.
    /// <see cref="TcpHandler{TMessage, TState}"/> keeps its typed state here, so derive from it to skip the casts.
    /// </summary>
    public object? State { get; set; }

    /// <summary>
    /// Adds this client to <paramref name="group"/> (created by its first member) for
    /// <see cref="TcpServer{TMessage}.SendToGroup(string, in TMessage)"/>; with a backplane the group spans every node.
    /// A client leaves its groups when it disconnects. Returns false if it was a member already or is closing.
    /// </summary>
    /// <exception cref="InvalidOperationException">This is a client's connection: groups are a server's.</exception>
    /// <exception cref="ArgumentException">The name is empty, longer than <see cref="TcpServer{TMessage}.MaxGroupNameLength"/>, or starts with a control character.</exception>
    public bool JoinGroup(string group) => ServerForGroups.JoinGroup(this, group);

    /// <summary>Removes this client from <paramref name="group"/>; false if it was not a member.</summary>
    /// <exception cref="InvalidOperationException">This is a client's connection: groups are a server's.</exception>
    public bool LeaveGroup(string group) => ServerForGroups.LeaveGroup(this, group);

    /// <summary>The groups this client is in now (empty on a client's connection).</summary>
    public IReadOnlyList<string> Groups => Server?.GroupsOf(this) ?? [];

    /// <summary>True once the connection has started closing (or has ended): sends return <see cref="SendResult.Closed"/>.</summary>
    public bool IsClosing => Volatile.Read(ref _closed) is not null;

    /// <summary>Bytes queued for this connection or being written now.</summary>
    public int QueuedBytes => _sendQueue.QueuedBytes;

    /// <summary>
    /// Packs <paramref name="message"/> and queues it for this connection. Never blocks and never throws for the
    /// connection's state: the result says what happened. The message is packed before this returns, so it may be a
    /// view that is about to be reused (a received message, say).
    /// </summary>
    public SendResult Send(in TMessage message)
    {
        if (IsClosing)
        {
            return SendResult.Closed;
        }

        var self = this;
        return _packer.Pack(message, ref self, static (ref TcpConnection<TMessage> c, PackBuffer packet) => c.EnqueuePacked(packet));
    }

    /// <summary>
    /// Packs <paramref name="messages"/> and queues them in order: the queue takes all of them or none
    /// (<see cref="SendResult.QueueFull"/>), with one copy and one wake-up of the write loop for the whole batch.
    /// A message whose <c>Pack</c> throws is reported through <see cref="ITcpHandler{TMessage}.OnError"/> and left
    /// out; when none packed, the result is <see cref="SendResult.PackFailed"/>. An empty span is
    /// <see cref="SendResult.Queued"/> with nothing queued.
    /// </summary>
    public SendResult Send(ReadOnlySpan<TMessage> messages)
    {
        if (IsClosing)
        {
            return SendResult.Closed;
        }

        if (messages.IsEmpty)
        {
            return SendResult.Queued;
        }

        var send = new BatchSend(this);
        return _packer.PackAll(messages, ref send, static (ref BatchSend s, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) => s.Result = s.Connection.EnqueuePacked(packed, lengths))
            ? send.Result
            : SendResult.QueueFull; // no room in the server's memory budget to pack them
    }

    /// <summary>
    /// Closes gracefully: reading stops, what was queued is flushed (bounded by
    /// <see cref="TcpConnectionOptions.CloseFlushTimeout"/>), then the socket closes; <c>OnDisconnectedAsync</c>
    /// receives <see cref="DisconnectReason.ClosedLocally"/> with <paramref name="reason"/>. The first close of a
    /// connection decides its reason; later ones do nothing. Safe from any thread, including this connection's callbacks.
    /// </summary>
    public void Close(string reason = "") => BeginClose(DisconnectReason.ClosedLocally, reason ?? string.Empty);

    /// <summary>
    /// Closes at once with a reset (RST), dropping what was queued; <c>OnDisconnectedAsync</c> receives
    /// <see cref="DisconnectReason.Aborted"/> with <paramref name="reason"/>. For a peer that is misbehaving; prefer
    /// <see cref="Close"/> otherwise.
    /// </summary>
    public void Abort(string reason = "") => Abort(DisconnectReason.Aborted, reason ?? string.Empty);

    /// <inheritdoc />
    public override string ToString() => $"#{Id} {RemoteEndPoint}";

    /// <summary>Appends what <paramref name="outbox"/> holds to this connection's queue, past its limits (the outbox has its own).</summary>
    internal bool TakeOutbox(SendQueue outbox) => _sendQueue.AppendAllOf(outbox);

    /// <summary>
    /// True once <c>OnConnectedAsync</c> has completed. Broadcasts skip connections that are not yet ready, so no
    /// client sees a broadcast before what its own <c>OnConnectedAsync</c> sent (a welcome, say).
    /// </summary>
    internal bool IsReady => _ready;

    private TcpServer<TMessage> ServerForGroups =>
        Server ?? throw new InvalidOperationException("Groups are a server's: this is a client's connection to its server.");

    /// <summary>Write passes the queue started after it had run empty (zero for a client nobody sends to).</summary>
    internal long WriteLoopWakeups => Volatile.Read(ref _writeLoopWakeups);

    /// <summary>Of <see cref="WriteLoopWakeups"/>, the passes that ran on the thread that had just handled a batch (no thread hop).</summary>
    internal long InlineWriteLoopWakeups => _sendQueue.InlineWakeups;

    /// <summary>What this connection has received and sent so far (each figure has one writer: its own loop).</summary>
    internal TrafficTotals Traffic => new(Volatile.Read(ref _receivedMessages), ReceivedBytes, Volatile.Read(ref _sentMessages), Volatile.Read(ref _sentBytes));

    /// <summary>
    /// Runs one handler callback, reporting what it throws through <c>OnConnectionError</c> and closing this client.
    /// Returns false when it threw.
    /// </summary>
    private async ValueTask<bool> InvokeHandlerAsync(Func<TcpConnection<TMessage>, ValueTask> callback, string name)
    {
        Volatile.Write(ref _runningCallback, name);
        try
        {
            await callback(this).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex)
        {
            FailWithHandlerError($"{name} threw {ex.GetType().Name}: {ex.Message}", ex);
            return false;
        }
        finally
        {
            Volatile.Write(ref _runningCallback, null);
        }
    }

    /// <summary>
    /// An I/O thread has been inside this connection's event for <paramref name="stuckFor"/>: past
    /// <see cref="TcpConnectionOptions.BlockedThreadWarning"/>, that is a callback (or protocol) that blocks, stalling every
    /// connection of the thread. Logged (event 44), counted (<c>cbufftcp.io_thread.blocked</c>) and passed to the
    /// handler's <c>OnError</c>, once per stall. Not <c>OnConnectionError</c>: that would run beside the stuck callback.
    /// </summary>
    bool IBlockedThreadObserver.OnThreadBlocked(string thread, TimeSpan stuckFor)
    {
        var warning = _settings.BlockedThreadWarning;
        if (warning == Timeout.InfiniteTimeSpan || stuckFor < warning)
        {
            return false;
        }

        var where = Volatile.Read(ref _runningCallback) ?? "the protocol or CbuffTcp itself";
        var milliseconds = (long)stuckFor.TotalMilliseconds;
        var logger = _settings.Telemetry.Logger;
        _settings.Telemetry.Metrics?.IoThreadBlocked();
        Log.IoThreadBlocked(logger, thread, Id, RemoteEndPoint, where, milliseconds);
        var message = $"{thread} has been inside client {Id}'s {where} for {milliseconds} ms: every connection of that thread waits. " +
            "A callback on the I/O threads must not block: move blocking work off it (AsyncReceive, or IoMode.ThreadPool).";
        try
        {
            _handler.OnError(message, null);
        }
        catch (Exception ex)
        {
            Log.ErrorHandlerFailed(logger, message, ex);
        }

        return true;
    }

    /// <summary>User code (a handler callback or the protocol) threw: report it, count it, close this client only.</summary>
    private void FailWithHandlerError(string message, Exception exception)
    {
        ReportHandlerError(message, exception);
        BeginClose(DisconnectReason.HandlerError, message);
    }

    private void ReportHandlerError(string message, Exception exception)
    {
        _settings.Telemetry.Metrics?.HandlerError(exception);
        ReportClientError(message, exception);
    }

    private void ReportClientError(string message, Exception? exception)
    {
        var logger = _settings.Telemetry.Logger;
        Log.ClientError(logger, Id, RemoteEndPoint, message, exception);
        try
        {
            _handler.OnConnectionError(this, message, exception);
        }
        catch (Exception ex)
        {
            // The connection is closing for the original error already; the log is the one place left for this.
            Log.ClientErrorHandlerFailed(logger, Id, ex);
        }
    }

    private static string DescribeAddress(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint { Address: var address } => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString(),
        System.Net.Sockets.UnixDomainSocketEndPoint unix => unix.ToString() ?? string.Empty,
        null => string.Empty,
        _ => endPoint.ToString() ?? string.Empty,
    };

    /// <summary>Carries a batch send's connection into the packer and its result out (a struct: nothing allocated).</summary>
    private struct BatchSend(TcpConnection<TMessage> connection)
    {
        public readonly TcpConnection<TMessage> Connection = connection;

        public SendResult Result = SendResult.PackFailed;
    }
}
