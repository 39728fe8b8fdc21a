using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections;

namespace CbuffTcp.Testing;

/// <summary>
/// A <see cref="TcpServer{TMessage}"/> whose clients connect in memory: your protocol and handler run on the real
/// connection core (the same read, decode, dispatch and write loops, send queues, limits, timeouts, metrics and
/// stop) with no socket, no port and no kernel in between. Give <see cref="TcpConnectionOptions.TimeProvider"/> a
/// fake clock (<c>FakeTimeProvider</c> of Microsoft.Extensions.TimeProvider.Testing) to drive idle and frame timeouts
/// by advancing it. TLS options are ignored: in-memory connections are plaintext.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public sealed class InMemoryServer<TMessage> : IAsyncDisposable
{
    private readonly IProtocol<TMessage> _protocol;
    private int _lastPort;

    internal InMemoryServer(TcpServer<TMessage> server, IProtocol<TMessage> protocol, EndPoint endPoint)
    {
        Server = server;
        _protocol = protocol;
        EndPoint = endPoint;
    }

    /// <summary>The server itself: broadcasts, <c>SendToClient</c>, <c>Clients</c>, counters and stop, as on sockets.</summary>
    public TcpServer<TMessage> Server { get; }

    /// <summary>The address the server's connections report as their local end (it listens nowhere).</summary>
    public EndPoint EndPoint { get; }

    /// <summary>
    /// Connects a raw peer, as a socket client would: the server admits it under its limits and runs its
    /// <c>OnConnectedAsync</c> (which may not have run yet when this returns).
    /// </summary>
    /// <param name="remoteEndPoint">The client's address as the server sees it (per-IP limits apply to it); 127.0.0.1 with a fresh port unless given.</param>
    /// <param name="bufferSize">Bytes each direction holds unread before its writer waits: small to test slow readers.</param>
    public InMemoryPeer<TMessage> Connect(IPEndPoint? remoteEndPoint = null, int bufferSize = InMemoryServer.DefaultBufferSize)
    {
        var (client, serverSide) = InMemoryTransport.CreatePair(remoteEndPoint ?? NextEndPoint(), EndPoint, bufferSize);
        var connection = Server.AdmitTransport(serverSide);
        return new InMemoryPeer<TMessage>(client, _protocol, connection);
    }

    /// <summary>
    /// Connects a <see cref="TcpClient{TMessage}"/> with its own handler, so a client handler can be tested against
    /// the server in memory, or one handler class on both sides.
    /// </summary>
    /// <param name="handler">The client's handler.</param>
    /// <param name="options">Client options (its send queue, timeouts, a fake clock, reconnecting: each reconnect is a new in-memory connection, refused while the server is stopped); TLS is ignored.</param>
    /// <param name="remoteEndPoint">The client's address as the server sees it.</param>
    public async Task<TcpClient<TMessage>> ConnectClientAsync(ITcpHandler<TMessage> handler, TcpClientOptions? options = null, IPEndPoint? remoteEndPoint = null)
    {
        var tcpClient = new TcpClient<TMessage>(_protocol, handler, options);
        await tcpClient.ConnectAsync(_ => Task.FromResult<ConnectionTransport>(ConnectTransport(remoteEndPoint))).ConfigureAwait(false);
        return tcpClient;
    }

    /// <summary>
    /// One in-memory connection for a client (its first or a reconnect): refused, as a socket's connect would be, while
    /// the server is not running.
    /// </summary>
    private InMemoryTransport ConnectTransport(IPEndPoint? remoteEndPoint)
    {
        if (Server.Status != ServerStatus.Running)
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }

        var (client, serverSide) = InMemoryTransport.CreatePair(remoteEndPoint ?? NextEndPoint(), EndPoint, InMemoryServer.DefaultBufferSize);
        Server.AdmitTransport(serverSide);
        return client;
    }

    /// <summary>Stops the server gracefully, as <see cref="TcpServer{TMessage}.StopAsync"/>.</summary>
    public Task StopAsync() => Server.StopAsync();

    /// <summary>Stops the server if it runs.</summary>
    public ValueTask DisposeAsync() => Server.DisposeAsync();

    private IPEndPoint NextEndPoint() => new(IPAddress.Loopback, 10_000 + (Interlocked.Increment(ref _lastPort) % 50_000));
}

/// <summary>Starts <see cref="InMemoryServer{TMessage}"/>s.</summary>
public static class InMemoryServer
{
    /// <summary>The bytes each direction of a connection holds unread before its writer waits, unless a connect says otherwise (a small socket buffer).</summary>
    public const int DefaultBufferSize = 64 * 1024;

    /// <summary>Starts a server that listens nowhere; clients come through <see cref="InMemoryServer{TMessage}.Connect"/> and <see cref="InMemoryServer{TMessage}.ConnectClientAsync"/>.</summary>
    /// <param name="protocol">The protocol under test.</param>
    /// <param name="handler">The handler under test.</param>
    /// <param name="options">Server options (limits, timeouts, <see cref="TcpConnectionOptions.AsyncReceive"/>, a fake clock).</param>
    public static async Task<InMemoryServer<TMessage>> StartAsync<TMessage>(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, TcpServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        var server = new TcpServer<TMessage>(protocol, handler, options);
        var endPoint = new IPEndPoint(IPAddress.Loopback, 1);
        await server.StartWithoutListenerAsync(endPoint).ConfigureAwait(false);
        return new InMemoryServer<TMessage>(server, protocol, endPoint);
    }
}
