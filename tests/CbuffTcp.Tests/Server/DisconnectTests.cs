using System.Buffers;
using System.Net.Sockets;
using System.Text;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>Fault 11: peers that vanish mid-frame, mid-send, half-close or close right after sending.</summary>
public class DisconnectTests
{
    [Fact]
    public async Task A_thousand_clients_sending_half_a_frame_then_resetting_give_one_disconnect_each_and_leak_nothing()
    {
        const int clients = 1000;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var halfFrame = new byte[] { 0, 0, 0, 100, 1, 2, 3 };
        for (var i = 0; i < clients; i++)
        {
            using var client = await fixture.ConnectAsync();
            await client.SendAsync(halfFrame);
            Reset(client.Socket);
        }

        await handler.WaitForNthAsync("disconnected", clients, timeoutSeconds: 30);
        await handler.WaitUntilAsync(_ => fixture.Server.ClientCount == 0, what: "every client gone");
        var connects = handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId).ToList();
        var disconnects = handler.Events.Where(e => e.Kind == "disconnected").Select(e => e.ClientId).ToList();
        Assert.Equal(clients, connects.Count);
        Assert.Equal(connects.Order(), disconnects.Order()); // exactly one each, for the same ids
        Assert.DoesNotContain(handler.Events, e => e.Kind == "received");
        Assert.Equal(0, fixture.Pool.Outstanding);
    }

    [Fact]
    public async Task A_reset_while_the_server_sends_ten_mebibytes_gives_one_disconnect_and_returns_every_buffer()
    {
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { SendQueueMaxBytes = 16 * 1024 * 1024 };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var client = await fixture.ConnectAsync(receiveBufferSize: 16 * 1024);
        await handler.WaitForAsync("connected");
        var id = handler.LastConnectedId;

        var chunk = new ReadOnlySequence<byte>(new byte[64 * 1024]);
        for (var i = 0; i < 160; i++)
        {
            Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(id, chunk));
        }

        await client.ReadExactlyAsync(100_000); // the transfer is under way
        Reset(client.Socket);

        var closed = await handler.WaitForAsync("disconnected", id);
        // The reset reaches the receive loop as ECONNRESET, or the write loop first as EPIPE, which reads as the
        // peer having closed: either way one disconnect, for the peer's doing.
        Assert.Contains(closed.Reason!.Value.Reason, new[] { DisconnectReason.Reset, DisconnectReason.RemoteClosed });
        await handler.WaitUntilAsync(_ => fixture.Pool.Outstanding == 0, what: "the queued 10 MiB returned to the pool");
        Assert.Single(handler.Events, e => e.Kind == "disconnected");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Frames_before_a_half_close_are_delivered_and_answered_then_the_client_is_closed_once(bool asyncReceive)
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = asyncReceive });
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        var frames = Enumerable.Range(1, 5).Select(i => WireClient.LengthFrame(Encoding.UTF8.GetBytes($"last words {i}"))).ToArray();
        await client.SendAsync(frames.SelectMany(f => f).ToArray()); // one write: the FIN follows the five frames closely
        client.Socket.Shutdown(SocketShutdown.Send);

        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal($"last words {i}", Encoding.UTF8.GetString(await client.ReadLengthFrameAsync())); // the answers still flow back
        }

        var closed = await handler.WaitForAsync("disconnected");
        Assert.Equal(DisconnectReason.RemoteClosed, closed.Reason!.Value.Reason);
        Assert.Equal(5, handler.ReceivedBy(closed.ClientId).Count());
        Assert.True(await client.WaitForCloseAsync());
        Assert.Single(handler.Events, e => e.Kind == "disconnected");
    }

    [Fact]
    public async Task Frames_sent_right_before_a_close_are_all_delivered()
    {
        const int clients = 50;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        for (var i = 0; i < clients; i++)
        {
            using var client = await fixture.ConnectAsync();
            await client.SendAsync(WireClient.LengthFrame("one"u8).Concat(WireClient.LengthFrame("two"u8)).ToArray());
        } // closed at once, FIN right behind the frames

        await handler.WaitForNthAsync("disconnected", clients);
        foreach (var id in handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId))
        {
            Assert.Equal(["one"u8.ToArray(), "two"u8.ToArray()], handler.ReceivedBy(id));
        }
    }

    /// <summary>Closes with RST: linger on with a zero timeout.</summary>
    private static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }
}
