using System.Buffers;
using System.Runtime.CompilerServices;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// An ended client's connection is garbage: nothing of the server keeps it. The client list a broadcast walks is a
/// cached snapshot, rebuilt only when asked for after a change; it used to keep every client that left after it was
/// taken, until the next broadcast or heartbeat rebuilt it (never, on a server without timeouts that broadcast once).
/// </summary>
public class EndedClientRetentionTests
{
    [Fact]
    public async Task A_client_that_left_after_a_broadcast_is_not_kept_alive_by_the_servers_client_list()
    {
        var handler = new RecordingHandler();
        // No timeouts: no heartbeat walks the clients, so nothing but this test asks for the list.
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan });
        var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        var connection = BroadcastAndWatchTheOnlyClient(fixture.Server); // the broadcast takes the snapshot
        await client.ReadLengthFrameAsync(TimeSpan.FromSeconds(10)); // it reached the client: the broadcast is done with it
        client.Dispose();
        await handler.WaitForAsync("disconnected");
        await Eventually.TrueAsync(() => fixture.Server.ConnectionsNotEnded == 0, "the connection ended");

        // Its last steps run just after it tells the server: collect until it is gone (it never is while referenced).
        await Eventually.TrueAsync(() =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return !connection.IsAlive;
        }, "the ended connection collected", timeoutSeconds: 5);
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // no reference to the connection may outlive this frame
    private static WeakReference BroadcastAndWatchTheOnlyClient(TcpServer<ReadOnlySequence<byte>> server)
    {
        Assert.Equal(1, server.SendToAllClients(new ReadOnlySequence<byte>("to all"u8.ToArray())).Queued);
        return new WeakReference(server.Clients.Single());
    }
}
