using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp;

/// <summary>
/// The client side: connects to a server and runs the same connection core as the server does (one read loop, one
/// write loop, a bounded send queue), with the same protocols and the same handler shape: its events receive the
/// <see cref="TcpConnection{TMessage}"/> to the server, whose <see cref="TcpConnection{TMessage}.Id"/> counts the
/// connects of this instance (1, 2, …).
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>
/// Thread-safe. After a connection ends (and, with <see cref="TcpClientOptions.Reconnect"/>, the client has stopped
/// reconnecting), <c>ConnectAsync</c> may be called again.
/// </remarks>
public sealed partial class TcpClient<TMessage> : IAsyncDisposable
{
    private readonly IProtocol<TMessage> _protocol;
    private readonly ITcpHandler<TMessage> _handler;
    private readonly TcpClientOptions _options;
    private readonly MessagePacker<TMessage> _packer;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private TcpConnection<TMessage>? _connection;
    private Task _completion = Task.CompletedTask;
    private long _connects;
    private bool _connecting;

    /// <summary>Creates a client; it does nothing until <see cref="ConnectAsync(string, int, CancellationToken)"/>.</summary>
    /// <param name="protocol">Turns bytes into messages and back.</param>
    /// <param name="handler">Receives the connection's events.</param>
    /// <param name="options">Limits and behaviour; defaults when null. Validated at connect.</param>
    public TcpClient(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, TcpClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        _protocol = protocol;
        _handler = handler;
        _options = options ?? new TcpClientOptions();
        _logger = _options.CreateLogger();
        _packer = new MessagePacker<TMessage>(protocol, handler, _logger);
    }

    /// <summary>The current (or last) connection to the server; null before the first connect.</summary>
    public TcpConnection<TMessage>? Connection => _connection;

    /// <summary>True while connected and not closing.</summary>
    public bool IsConnected => _connection is { IsClosing: false } && !_completion.IsCompleted;

    /// <summary>
    /// Completes when the connection has ended and its <c>OnDisconnectedAsync</c> has run; with
    /// <see cref="TcpClientOptions.Reconnect"/>, when the client stops reconnecting (closed, or out of attempts).
    /// </summary>
    public Task Completion => _completion;

    /// <summary>Bytes queued or being written now.</summary>
    public int QueuedBytes => _connection?.QueuedBytes ?? 0;

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/> (a name or an address) and starts the connection.</summary>
    /// <exception cref="InvalidOperationException">Already connected.</exception>
    /// <exception cref="TimeoutException">Not connected within <see cref="TcpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="SocketException">The connection was refused or the host is unreachable.</exception>
    /// <exception cref="System.Security.Authentication.AuthenticationException">The TLS handshake failed (with <see cref="TcpClientOptions.Tls"/>).</exception>
    public Task ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        return ConnectAsync(new DnsEndPoint(host, port), cancellationToken);
    }

    /// <summary>
    /// Connects to <paramref name="endPoint"/> (an <see cref="IPEndPoint"/>, a <see cref="DnsEndPoint"/> or a
    /// <see cref="UnixDomainSocketEndPoint"/>) and starts the connection.
    /// </summary>
    /// <exception cref="InvalidOperationException">Already connected.</exception>
    /// <exception cref="TimeoutException">Not connected within <see cref="TcpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="SocketException">The connection was refused or the host is unreachable.</exception>
    public Task ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return ConnectCoreAsync((client, settings, token) => client.ConnectTransportAsync(endPoint, settings, token), cancellationToken);
    }

    /// <summary>
    /// Starts a connection over transports made elsewhere (the in-memory ones of CbuffTcp.Testing): <paramref name="connect"/>
    /// makes one for the first connect and one for each reconnect.
    /// </summary>
    internal Task ConnectAsync(Func<CancellationToken, Task<ConnectionTransport>> connect) =>
        ConnectCoreAsync((_, _, token) => connect(token), CancellationToken.None);

    /// <summary>
    /// Packs <paramref name="message"/> and queues it (<see cref="TcpConnection{TMessage}.Send(in TMessage)"/> of the
    /// current connection). Never blocks. When not connected: <see cref="SendResult.Closed"/>, or, while reconnecting
    /// with an outbox, <see cref="SendResult.Queued"/> into the outbox (<see cref="SendResult.QueueFull"/> when full).
    /// </summary>
    public SendResult Send(in TMessage message)
    {
        if (_options.Reconnect is null)
        {
            return _connection is { } connection ? connection.Send(message) : SendResult.Closed;
        }

        if (_sendsGoDirect && _connection is { } current && current.Send(message) is var result && result != SendResult.Closed)
        {
            return result;
        }

        var client = this;
        return _packer.Pack(message, ref client, static (ref TcpClient<TMessage> c, PackBuffer packed) => c.EnqueueWhileReconnecting(packed));
    }

    /// <summary>
    /// Queues <paramref name="messages"/> all or none (<see cref="TcpConnection{TMessage}.Send(ReadOnlySpan{TMessage})"/>);
    /// while reconnecting with an outbox, into the outbox, as <see cref="Send(in TMessage)"/>.
    /// </summary>
    public SendResult Send(ReadOnlySpan<TMessage> messages)
    {
        if (_options.Reconnect is null)
        {
            return _connection is { } connection ? connection.Send(messages) : SendResult.Closed;
        }

        if (_sendsGoDirect && _connection is { } current && current.Send(messages) is var result && result != SendResult.Closed)
        {
            return result;
        }

        if (messages.IsEmpty)
        {
            return SendResult.Queued;
        }

        var send = new OutboxBatch(this);
        _ = _packer.PackAll(messages, ref send, static (ref OutboxBatch s, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) => s.Result = s.Client.EnqueueWhileReconnecting(packed, lengths)); // a client has no budget: never refused
        return send.Result;
    }

    /// <summary>
    /// Closes gracefully: flushes what was queued, closes the socket, and completes once <c>OnDisconnectedAsync</c>
    /// has run with <see cref="DisconnectReason.ClosedLocally"/> and <paramref name="reason"/>. With
    /// <see cref="TcpClientOptions.Reconnect"/>, also stops reconnecting at once (a wait or an attempt under way ends),
    /// dropping what the outbox holds.
    /// </summary>
    public Task CloseAsync(string reason = "closed by client")
    {
        _closedByUser = true;
        _stopReconnecting?.Cancel();
        _connection?.Close(reason);
        return _completion;
    }

    /// <summary>Closes the connection if open and waits for it to end.</summary>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    private async Task ConnectCoreAsync(
        Func<TcpClient<TMessage>, ConnectionSettings, CancellationToken, Task<ConnectionTransport>> connect,
        CancellationToken cancellationToken)
    {
        var settings = ConnectionSettings.From(_options, _protocol.MaxFrameSize) with { Telemetry = new ConnectionTelemetry(_logger, metrics: null) };
        lock (_lock)
        {
            if (_connecting || !_completion.IsCompleted)
            {
                throw new InvalidOperationException("Already connected or connecting; close the connection before connecting again.");
            }

            _connecting = true;
        }

        try
        {
            var transport = await connect(this, settings, cancellationToken).ConfigureAwait(false);
            var connection = NewConnection(transport, settings, attempts: 0);
            lock (_lock)
            {
                _closedByUser = false;
                _connection = connection;
                _completion = _options.Reconnect is { } reconnect
                    ? RunReconnectingAsync(connection, settings, reconnect, (token) => connect(this, settings, token))
                    : RunAsync(connection, settings);
            }
        }
        finally
        {
            lock (_lock)
            {
                _connecting = false;
            }
        }
    }

    /// <summary>A connection to the server: after a reconnect (<paramref name="attempts"/> &gt; 0), or with an outbox, it runs the client's step after <c>OnConnectedAsync</c>.</summary>
    private TcpConnection<TMessage> NewConnection(ConnectionTransport transport, ConnectionSettings settings, int attempts)
    {
        var connection = new TcpConnection<TMessage>(Interlocked.Increment(ref _connects), transport, _protocol, _handler, _packer, settings)
        {
            AfterConnected = _options.Reconnect is null ? null : c => ConnectedAgainAsync(c, attempts),
        };
        Log.ConnectorConnected(settings.Telemetry.Logger, connection.RemoteEndPoint, connection.Id);
        return connection;
    }

    private static async Task RunAsync(TcpConnection<TMessage> connection, ConnectionSettings settings)
    {
        await Task.Yield(); // the connection runs off the caller's stack
        using var heartbeat = ConnectionHeartbeat<TMessage>.StartIfNeeded(settings, () => [connection]);
        await connection.RunAsync().ConfigureAwait(false);
    }

    /// <summary>Connects within the connect timeout: on an I/O thread alone, or through the runtime's engine (TLS on top when asked).</summary>
    private async Task<ConnectionTransport> ConnectTransportAsync(EndPoint endPoint, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            if (_options.Tls is null && settings.UsesIoThreads)
            {
                return await IoSocket.ConnectAsync(endPoint, settings.NoDelay, timeout.Token).ConfigureAwait(false);
            }

            return await ConnectSocketAsync(endPoint, settings, timeout.Token, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Connecting to {endPoint} took longer than {_options.ConnectTimeout.TotalSeconds:0.###} s.");
        }
    }

    private async Task<ConnectionTransport> ConnectSocketAsync(EndPoint endPoint, ConnectionSettings settings, CancellationToken connectToken, CancellationToken cancellationToken)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = settings.NoDelay };
        try
        {
            await socket.ConnectAsync(endPoint, connectToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        if (_options.Tls is not { } tls)
        {
            return new SocketTransport(socket);
        }

        if (string.IsNullOrEmpty(tls.TargetHost) && endPoint is DnsEndPoint dns)
        {
            tls = TlsHandshake.WithTargetHost(tls, dns.Host); // a copy: the caller's options stay as they were
        }

        try
        {
            return await TlsHandshake.AsClientAsync(socket, tls, _options.TlsHandshakeTimeout, settings.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
