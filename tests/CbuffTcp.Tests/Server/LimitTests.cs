using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.Server;

public class LimitTests
{
    private static readonly IPAddress Second = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Third = IPAddress.Parse("127.0.0.3");

    [Fact]
    public async Task Per_ip_limit_refuses_extras_from_that_ip_only_reports_a_flood_once_and_counts_return()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MaxConnectionsPerIp = 2 });
        using var a1 = await WireClient.ConnectAsync(fixture.EndPoint, from: Second);
        using var a2 = await WireClient.ConnectAsync(fixture.EndPoint, from: Second);
        await handler.WaitForNthAsync("connected", 2);

        for (var i = 0; i < 20; i++)
        {
            await WireClient.AssertRefusedAsync(fixture.EndPoint, Second);
        }

        await handler.WaitUntilAsync(_ => fixture.Server.RejectedConnections == 20, what: "20 rejections");
        Assert.Single(handler.Events, e => e.Kind == "error");
        Assert.Contains("127.0.0.2", handler.Events.Single(e => e.Kind == "error").Text, StringComparison.Ordinal);
        Assert.Equal(2, handler.Events.Count(e => e.Kind == "connected"));

        // Another address is unaffected.
        using var b1 = await WireClient.ConnectAsync(fixture.EndPoint, from: Third);
        await handler.WaitForNthAsync("connected", 3);

        // When one of 127.0.0.2's clients leaves, its count drops and it may connect again.
        a1.Dispose();
        await handler.WaitForAsync("disconnected");
        using var a3 = await WireClient.ConnectAsync(fixture.EndPoint, from: Second);
        await handler.WaitForNthAsync("connected", 4);
        Assert.Equal(3, fixture.Server.ClientCount);
    }

    [Fact]
    public async Task Open_close_cycles_at_the_connection_limit_leave_no_count_behind()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MaxConnections = 10, MaxConnectionsPerIp = 10 });
        var held = await fixture.ConnectManyAsync(10);
        for (var i = 0; i < 10; i++)
        {
            await WireClient.AssertRefusedAsync(fixture.EndPoint, null);
        }

        held.ForEach(c => c.Dispose());
        await handler.WaitUntilAsync(_ => fixture.Server.ClientCount == 0, what: "all gone");
        for (var cycle = 0; cycle < 100; cycle++)
        {
            using var client = await fixture.ConnectAsync();
            await handler.WaitForNthAsync("connected", 11 + cycle);
            fixture.Server.CloseClient(handler.LastConnectedId, "cycle"); // the server closes first: no TIME_WAIT on the client's port
            Assert.True(await client.WaitForCloseAsync());

            // The client sees the close before the server has finished it: wait for the end, or a slow one (the
            // machine busy with other tests) would still hold a slot when the next client comes, and ten such fill it.
            await handler.WaitForNthAsync("disconnected", 11 + cycle);
        }

        await handler.WaitUntilAsync(_ => fixture.Server.ClientCount == 0, what: "all cycles closed");
        Assert.Equal(110, handler.Events.Count(e => e.Kind == "disconnected"));
        var again = await fixture.ConnectManyAsync(10);
        again.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Idle_clients_are_closed_after_the_idle_timeout_and_receiving_restarts_the_clock()
    {
        var time = new FakeTimeProvider();
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { IdleTimeout = TimeSpan.FromSeconds(10), FrameTimeout = Timeout.InfiniteTimeSpan, TimeProvider = time };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var quiet = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        var quietId = handler.LastConnectedId;
        using var chatty = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        var chattyId = handler.LastConnectedId;

        time.Advance(TimeSpan.FromSeconds(6));
        await chatty.SendLengthFrameAsync("ping"u8);
        await handler.WaitForAsync("received", chattyId);
        await WaitForReceivedBytesAsync(fixture, chattyId, 8); // and its loop waits on it again: the idle clock runs

        time.Advance(TimeSpan.FromSeconds(5)); // quiet: 11 s idle; chatty: 5 s
        var closed = await handler.WaitForAsync("disconnected", quietId);
        Assert.Equal(DisconnectReason.IdleTimeout, closed.Reason!.Value.Reason);
        Assert.True(await quiet.WaitForCloseAsync());
        Assert.Equal(1, fixture.Server.ClientCount);

        time.Advance(TimeSpan.FromSeconds(6)); // chatty: 11 s
        Assert.Equal(DisconnectReason.IdleTimeout, (await handler.WaitForAsync("disconnected", chattyId)).Reason!.Value.Reason);
    }

    [Fact]
    public async Task A_started_frame_must_complete_in_time_and_a_trickle_does_not_restart_the_clock()
    {
        var time = new FakeTimeProvider();
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = TimeSpan.FromSeconds(5), TimeProvider = time };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var trickler = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        var id = handler.LastConnectedId;

        // A complete frame then a frame that declares 100 bytes and sends them one at a time.
        await trickler.SendAsync(WireClient.LengthFrame("whole"u8).Concat(new byte[] { 0, 0, 0, 100, 1 }).ToArray());
        await handler.WaitForAsync("received", id);
        // The frame clock starts once the handler is done with "whole" and the loop waits again: moving the clock
        // before that (a busy machine) would start it a second late and the close would never come.
        await WaitForReceivedBytesAsync(fixture, id, 9 + 5);
        for (var i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await trickler.SendAsync(new byte[] { 1 });
            await WaitForReceivedBytesAsync(fixture, id, 9 + 5 + i + 1);
        }

        Assert.Equal(1, fixture.Server.ClientCount);
        time.Advance(TimeSpan.FromSeconds(1.5)); // 5.5 s since the frame started, however many bytes trickled in
        var closed = await handler.WaitForAsync("disconnected", id);
        Assert.Equal(DisconnectReason.FrameTimeout, closed.Reason!.Value.Reason);
        Assert.Single(handler.ReceivedBy(id));
    }

    [Fact]
    public async Task Completed_frames_never_trip_the_frame_timeout()
    {
        var time = new FakeTimeProvider();
        var handler = new EchoHandler();
        var options = new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = TimeSpan.FromSeconds(5), TimeProvider = time };
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, options);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        for (var i = 0; i < 5; i++)
        {
            // Each frame arrives in two halves 4 s apart: under the limit each time, 20 s in all.
            await client.SendAsync(new byte[] { 0, 0, 0, 2, 7 });
            await WaitForReceivedBytesAsync(fixture, handler.LastConnectedId, i * 6 + 5);
            time.Advance(TimeSpan.FromSeconds(4));
            await client.SendAsync(new byte[] { 8 });
            Assert.Equal(new byte[] { 7, 8 }, await client.ReadLengthFrameAsync());
        }

        Assert.Equal(1, fixture.Server.ClientCount);
    }

    [Fact]
    public void Timeouts_must_be_positive_or_infinite()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ValidateServerOptions(new TcpServerOptions { IdleTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ValidateServerOptions(new TcpServerOptions { FrameTimeout = TimeSpan.FromSeconds(-1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ValidateServerOptions(new TcpServerOptions { MaxConnectionsPerIp = 0 }));
        ValidateServerOptions(new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan });
    }

    private static void ValidateServerOptions(TcpServerOptions options) => CbuffTcp.Connections.ConnectionSettings.From(options, 1024 * 1024);

    private static async Task WaitForReceivedBytesAsync(ServerFixture<RecordingHandler> fixture, long id, long bytes) =>
        await WaitForReceivedBytesCoreAsync(fixture.Server, id, bytes);

    private static async Task WaitForReceivedBytesAsync(ServerFixture<EchoHandler> fixture, long id, long bytes) =>
        await WaitForReceivedBytesCoreAsync(fixture.Server, id, bytes);

    /// <summary>
    /// Until the server has received <paramref name="bytes"/> from the client and handled them (its receive loop waits
    /// on the client again): only then does moving the fake clock test the timeouts rather than a loop mid-read.
    /// </summary>
    private static async Task WaitForReceivedBytesCoreAsync(TcpServer<ReadOnlySequence<byte>> server, long id, long bytes)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.GetReceivedBytes(id) < bytes || !server.IsWaitingOnPeer(id))
        {
            Assert.True(DateTime.UtcNow < deadline, $"server received {server.GetReceivedBytes(id)} of {bytes} bytes (waiting on the client: {server.IsWaitingOnPeer(id)})");
            await Task.Delay(5);
        }
    }
}
