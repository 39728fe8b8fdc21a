using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections;
using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp;

/// <summary>
/// The client side: connects to a server and runs the same connection core as the server does (one read loop, one
/// write loop, a bounded send queue), with the same protocols and handler events. Events name the connection's
/// <see cref="ClientInfo"/>; its <see cref="ClientInfo.Id"/> counts the connects of this instance (1, 2, …).
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>Thread-safe. After a connection ends, <c>ConnectAsync</c> may be called again.</remarks>
public sealed class TcpClientConnection<TMessage> : IAsyncDisposable
{
    private readonly IProtocol<TMessage> _protocol;
    private readonly ITcpHandler<TMessage> _handler;
    private readonly TcpClientOptions _options;
    private readonly MessagePacker<TMessage> _packer;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private Connection<TMessage>? _connection;
    private Task _completion = Task.CompletedTask;
    private long _connects;
    private bool _connecting;

    /// <summary>Creates a client; it does nothing until <see cref="ConnectAsync(string, int, CancellationToken)"/>.</summary>
    /// <param name="protocol">Turns bytes into messages and back.</param>
    /// <param name="handler">Receives the connection's events.</param>
    /// <param name="options">Limits and behaviour; defaults when null. Validated at connect.</param>
    public TcpClientConnection(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, TcpClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        _protocol = protocol;
        _handler = handler;
        _options = options ?? new TcpClientOptions();
        _logger = _options.CreateLogger();
        _packer = new MessagePacker<TMessage>(protocol, handler, _logger);
    }

    /// <summary>The current (or last) connection; null before the first connect.</summary>
    public ClientInfo? Info => _connection?.Info;

    /// <summary>True while connected and not closing.</summary>
    public bool IsConnected => _connection is { IsClosing: false } && !_completion.IsCompleted;

    /// <summary>Completes when the current connection has ended and its <c>OnDisconnectedAsync</c> has run.</summary>
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
        return ConnectCoreAsync(new DnsEndPoint(host, port), cancellationToken);
    }

    /// <summary>Connects to <paramref name="endPoint"/> and starts the connection.</summary>
    /// <exception cref="InvalidOperationException">Already connected.</exception>
    /// <exception cref="TimeoutException">Not connected within <see cref="TcpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="SocketException">The connection was refused or the host is unreachable.</exception>
    public Task ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return ConnectCoreAsync(endPoint, cancellationToken);
    }

    /// <summary>Packs <paramref name="message"/> and queues it. Never blocks; the result says what happened.</summary>
    public SendResult Send(in TMessage message)
    {
        var connection = _connection;
        if (connection is null || connection.IsClosing)
        {
            return SendResult.Closed;
        }

        return _packer.Pack(message, ref connection, static (ref Connection<TMessage> c, PackBuffer packet) => c.EnqueuePacked(packet));
    }

    /// <summary>
    /// Closes gracefully: flushes what was queued, closes the socket, and completes once <c>OnDisconnectedAsync</c>
    /// has run with <see cref="DisconnectReason.ClosedByServer"/> (local close) and <paramref name="reason"/>.
    /// </summary>
    public Task CloseAsync(string reason = "closed by client")
    {
        _connection?.BeginClose(DisconnectReason.ClosedByServer, reason);
        return _completion;
    }

    /// <summary>Closes the connection if open and waits for it to end.</summary>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    private async Task ConnectCoreAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        var settings = ConnectionSettings.From(_options) with { Telemetry = new ConnectionTelemetry(_logger, metrics: null) };
        lock (_lock)
        {
            if (_connecting || (_connection is not null && !_completion.IsCompleted))
            {
                throw new InvalidOperationException("Already connected or connecting; close the connection before connecting again.");
            }

            _connecting = true;
        }

        try
        {
            await ConnectAndStartAsync(endPoint, settings, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _connecting = false;
            }
        }
    }

    private static async Task RunAsync(Connection<TMessage> connection, ConnectionSettings settings)
    {
        await Task.Yield(); // the connection runs off the caller's stack
        using var heartbeat = ConnectionHeartbeat<TMessage>.StartIfNeeded(settings, () => [connection]);
        await connection.RunAsync().ConfigureAwait(false);
    }

    private async Task ConnectAndStartAsync(EndPoint endPoint, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = settings.NoDelay };
        EndPoint? remote;
        EndPoint? local;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {endPoint} took longer than {_options.ConnectTimeout.TotalSeconds:0.###} s.");
            }

            // Read now: once the peer resets (a TLS server refusing us, say), the socket can no longer tell them.
            remote = socket.RemoteEndPoint;
            local = socket.LocalEndPoint;
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        ConnectionTransport transport;
        if (_options.Tls is { } tls)
        {
            if (string.IsNullOrEmpty(tls.TargetHost) && endPoint is DnsEndPoint dns)
            {
                tls = TlsHandshake.WithTargetHost(tls, dns.Host); // a copy: the caller's options stay as they were
            }

            try
            {
                transport = await TlsHandshake.AsClientAsync(socket, tls, _options.TlsHandshakeTimeout, settings.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        else
        {
            transport = settings.TransportFor(socket);
        }

        var info = new ClientInfo(Interlocked.Increment(ref _connects), remote, local);
        var connection = new Connection<TMessage>(info, transport, _protocol, _handler, settings);
        Log.ConnectorConnected(settings.Telemetry.Logger, remote, info.Id);
        lock (_lock)
        {
            _connection = connection;
            _completion = RunAsync(connection, settings);
        }
    }
}
