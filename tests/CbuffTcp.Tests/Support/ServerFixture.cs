using System.Buffers;
using System.Net;
using CbuffTcp.Protocols;

namespace CbuffTcp.Tests.Support;

/// <summary>Starts a server on 127.0.0.1 port 0 and stops it at the end of the test.</summary>
public sealed class ServerFixture<THandler> : IAsyncDisposable
    where THandler : RecordingHandler
{
    private ServerFixture(TcpServer<ReadOnlySequence<byte>> server, THandler handler, CountingBufferPool pool)
    {
        Server = server;
        Handler = handler;
        Pool = pool;
    }

    /// <summary>Every buffer the server rents comes from here; disposing the fixture asserts all came back.</summary>
    public CountingBufferPool Pool { get; }

    public TcpServer<ReadOnlySequence<byte>> Server { get; }

    public THandler Handler { get; }

    public IPEndPoint EndPoint => (IPEndPoint)Server.LocalEndPoint!;

    public static async Task<ServerFixture<THandler>> StartAsync(THandler handler, TcpServerOptions? options = null, IProtocol<ReadOnlySequence<byte>>? protocol = null)
    {
        options ??= new TcpServerOptions();
        var pool = new CountingBufferPool();
        options.BufferPool = pool;
        UnobservedExceptions.EnsureWatching();
        var server = new TcpServer<ReadOnlySequence<byte>>(protocol ?? new LengthPrefixedProtocol(), handler, options);
        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        return new ServerFixture<THandler>(server, handler, pool);
    }

    public Task<WireClient> ConnectAsync(int? receiveBufferSize = null) => WireClient.ConnectAsync(EndPoint, receiveBufferSize);

    /// <summary>
    /// The server's id for <paramref name="client"/>, matched by its port. Clients connected back to back may reach
    /// OnConnectedAsync in either order, so "the last connected" is not a way to tell them apart.
    /// </summary>
    public long ClientIdOf(WireClient client)
    {
        var port = ((IPEndPoint)client.Socket.LocalEndPoint!).Port;
        return Server.Clients.Single(c => ((IPEndPoint)c.RemoteEndPoint!).Port == port).Id;
    }

    /// <summary>Connects <paramref name="count"/> clients and waits until the handler has seen them all connect.</summary>
    public async Task<List<WireClient>> ConnectManyAsync(int count)
    {
        var already = Handler.Events.Count(e => e.Kind == "connected");
        var clients = new List<WireClient>(count);
        for (var i = 0; i < count; i++)
        {
            clients.Add(await ConnectAsync());
        }

        await Handler.WaitForNthAsync("connected", already + count);
        return clients;
    }

    public async ValueTask DisposeAsync()
    {
        if (Server.Status == ServerStatus.Running)
        {
            await Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        await Server.DisposeAsync();

        Assert.Equal(0, Handler.Overlaps);
        Pool.AssertAllReturned();
        UnobservedExceptions.AssertNone();
    }
}
