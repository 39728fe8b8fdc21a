using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// An in-memory server with a recording handler and a counting buffer pool: at the end every pooled buffer is back,
/// no callbacks of one client overlapped and no task failed unobserved.
/// </summary>
public sealed class InMemoryFixture<THandler> : IAsyncDisposable
    where THandler : RecordingHandler
{
    private InMemoryFixture(InMemoryServer<ReadOnlySequence<byte>> host, THandler handler, CountingBufferPool pool)
    {
        Host = host;
        Handler = handler;
        Pool = pool;
    }

    public InMemoryServer<ReadOnlySequence<byte>> Host { get; }

    public TcpServer<ReadOnlySequence<byte>> Server => Host.Server;

    public THandler Handler { get; }

    public CountingBufferPool Pool { get; }

    public static async Task<InMemoryFixture<THandler>> StartAsync(THandler handler, TcpServerOptions? options = null, IProtocol<ReadOnlySequence<byte>>? protocol = null)
    {
        options ??= new TcpServerOptions();
        var pool = new CountingBufferPool();
        options.BufferPool = pool;
        UnobservedExceptions.EnsureWatching();
        var host = await InMemoryServer.StartAsync(protocol ?? new LengthPrefixedProtocol(), handler, options);
        return new InMemoryFixture<THandler>(host, handler, pool);
    }

    /// <summary>
    /// Connects a peer and waits until the handler has seen it connect and <c>OnConnectedAsync</c> has returned: a
    /// broadcast skips a client before that (docs/handlers.md), and the handler records "connected" inside it.
    /// </summary>
    public async Task<InMemoryPeer<ReadOnlySequence<byte>>> ConnectAsync(int bufferSize = InMemoryServer.DefaultBufferSize)
    {
        var peer = Host.Connect(bufferSize: bufferSize);
        Assert.NotNull(peer.Connection);
        await Handler.WaitForAsync("connected", peer.ClientId);
        await Eventually.TrueAsync(() => peer.Connection.IsReady || peer.Connection.IsClosing, $"client {peer.ClientId} ready for broadcasts", timeoutSeconds: 10);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        if (Server.Status == ServerStatus.Running)
        {
            await Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        await Host.DisposeAsync();
        Assert.Equal(0, Handler.Overlaps);
        Pool.AssertAllReturned();
        UnobservedExceptions.AssertNone();
    }
}
