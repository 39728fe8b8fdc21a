using System.Buffers.Binary;
using System.Net.Sockets;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.Server;

/// <summary>The hardening issue's fault battery: hostile headers, trickled frames, a stalled client in a broadcast.</summary>
public class FaultBatteryTests
{
    private const int KiB = 1024;

    [Theory]
    [InlineData(4, 1024L * 1024 + 1)] // max + 1
    [InlineData(4, int.MaxValue)] // 2^31 - 1
    [InlineData(4, uint.MaxValue)] // 2^32 - 1
    [InlineData(8, long.MaxValue)] // 2^63 - 1
    [InlineData(8, 1024L * 1024 + 1)]
    public async Task An_oversized_length_header_closes_its_client_on_the_header_alone_allocating_nothing_for_it(int headerSize, long declared)
    {
        // No timeout could close it: only the header check can.
        var options = new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan };
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, options, new LengthPrefixedProtocol(headerSize));
        using var good = await fixture.ConnectAsync();
        using var bad = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        var badId = fixture.ClientIdOf(bad);
        await AssertEchoAsync(good, headerSize, 1);

        var header = new byte[headerSize];
        if (headerSize == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(header, (uint)declared);
        }
        else
        {
            BinaryPrimitives.WriteInt64BigEndian(header, declared);
        }

        await bad.SendAsync(header);
        var closed = await handler.WaitForAsync("disconnected", badId);
        Assert.Equal(DisconnectReason.FrameTooLarge, closed.Reason!.Value.Reason);
        Assert.True(await bad.WaitForCloseAsync());

        // Nothing sized by the header was rented: both clients together stayed within a few small buffers.
        Assert.InRange(fixture.Pool.PeakBytes, 1, 64 * KiB);
        await AssertEchoAsync(good, headerSize, 2);
    }

    [Fact]
    public async Task A_line_that_never_ends_is_closed_once_past_the_limit_holding_no_more_than_the_limit()
    {
        const int maxLine = 8 * KiB;
        var options = new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan };
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, options, new LineProtocol(maxLine));
        using var good = await fixture.ConnectAsync();
        using var bad = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        var badId = fixture.ClientIdOf(bad);

        var endless = new byte[maxLine + 2]; // max + 1 could still be a full line and its "\r", waiting for "\n"
        endless.AsSpan().Fill((byte)'x');
        await bad.SendAsync(endless); // no newline, ever
        var closed = await handler.WaitForAsync("disconnected", badId);
        Assert.Equal(DisconnectReason.FrameTooLarge, closed.Reason!.Value.Reason);
        Assert.InRange(fixture.Pool.PeakBytes, 1, 64 * KiB);

        await good.SendLineAsync("still here");
        Assert.Equal("still here", await good.ReadLineAsync());
    }

    [Fact]
    public async Task A_thousand_clients_each_trickling_one_byte_of_a_max_size_frame_hold_256_bytes_each_and_all_time_out()
    {
        const int clients = 1000;
        var time = new FakeTimeProvider();
        var options = new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = TimeSpan.FromSeconds(30), TimeProvider = time };
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        var sockets = await fixture.ConnectManyAsync(clients);
        try
        {
            var opening = new byte[] { 0x00, 0x10, 0x00, 0x00, 0xAB }; // declares exactly 1 MiB (the limit), then sends 1 byte
            foreach (var socket in sockets)
            {
                await socket.SendAsync(opening);
            }

            var ids = handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId).ToArray();
            await handler.WaitUntilAsync(_ => ids.All(id => fixture.Server.GetReceivedBytes(id) == opening.Length && fixture.Server.IsWaitingOnPeer(id)), what: "every opening received and every connection waiting for more");

            // Memory held per connection: the smallest receive block (256 bytes) holding its 5 bytes, nothing sized
            // by the declared frame (a 4 KiB read buffer per connection would show as 4,096).
            var perConnection = fixture.Pool.OutstandingBytes / (double)clients;
            Assert.InRange(perConnection, opening.Length, 256);

            // The server counts bytes as it reads them and starts a frame's clock as it decodes them, a moment later:
            // a connection still between the two when the clock jumps is timed from the jump, so jump again (bounded).
            for (var jump = 0; jump < 5 && handler.Events.Count(e => e.Kind == "disconnected") < clients; jump++)
            {
                time.Advance(TimeSpan.FromSeconds(31));
                await handler.WaitUntilAsync(events => events.Count(e => e.Kind == "disconnected") == clients, timeoutSeconds: 2, what: "all closed")
                    .ContinueWith(static _ => { }, TaskScheduler.Default);
            }

            await handler.WaitForNthAsync("disconnected", clients, timeoutSeconds: 30);
            Assert.All(handler.Events.Where(e => e.Kind == "disconnected"), e => Assert.Equal(DisconnectReason.FrameTimeout, e.Reason!.Value.Reason));
            Assert.DoesNotContain(handler.Events, e => e.Kind == "received");
            Assert.Equal(0, fixture.Pool.OutstandingBytes);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData(SlowConsumerPolicy.RejectSend)]
    [InlineData(SlowConsumerPolicy.Disconnect)]
    public async Task A_broadcast_of_ten_thousand_reaches_every_fast_client_in_order_while_a_stalled_one_is_handled_by_policy(SlowConsumerPolicy policy)
    {
        const int fastClients = 100;
        const int messages = 10_000;
        const int size = KiB;
        const int queueCap = 256 * KiB;
        var options = new TcpServerOptions { SendQueueMaxBytes = queueCap, SlowConsumerPolicy = policy };
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        var fast = await fixture.ConnectManyAsync(fastClients);
        using var stalled = await WireClient.ConnectAsync(fixture.EndPoint, receiveBufferSize: 4 * KiB);
        await handler.WaitForNthAsync("connected", fastClients + 1);
        var stalledId = fixture.ClientIdOf(stalled);
        var fastIds = handler.Events.Where(e => e.Kind == "connected" && e.ClientId != stalledId).Select(e => e.ClientId).ToArray();

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var readers = fast.Select(c => Task.Run(() => ReadNumberedFramesAsync(c.Socket, messages, size, stop.Token))).ToArray();

        var payload = new byte[size];
        var rejected = 0;
        var stalledPeak = 0;
        for (var i = 0; i < messages; i++)
        {
            // The sender paces on the fast clients only, the way an application would: the stalled one must not slow it.
            while (fastIds.Any(id => fixture.Server.GetQueuedBytes(id) > queueCap / 2))
            {
                await Task.Delay(1, stop.Token);
            }

            BinaryPrimitives.WriteInt32BigEndian(payload, i);
            payload.AsSpan(4).Fill((byte)i);
            var result = fixture.Server.SendToAllClients(new System.Buffers.ReadOnlySequence<byte>(payload));
            rejected += result.Rejected;
            stalledPeak = Math.Max(stalledPeak, fixture.Server.GetQueuedBytes(stalledId));
        }

        Assert.All(await Task.WhenAll(readers), received => Assert.Equal(messages, received));
        Assert.InRange(stalledPeak, 0, queueCap + size + 4);
        if (policy == SlowConsumerPolicy.RejectSend)
        {
            Assert.True(rejected > 0, "the stalled client's full queue was never reported");
            Assert.Equal(fastClients + 1, fixture.Server.ClientCount);
        }
        else
        {
            var closed = await handler.WaitForAsync("disconnected", stalledId);
            Assert.Equal(DisconnectReason.SlowConsumer, closed.Reason!.Value.Reason);
        }

        // Bounded by the queue cap whatever the number of messages: each client holds at most a queued buffer and one
        // in flight, each no larger than the cap, plus a receive block (10,000 messages would be 10 MB per client).
        Assert.InRange(fixture.Pool.PeakBytes, 1, (fastClients + 1) * ((2 * queueCap) + (4 * KiB)));
        fast.ForEach(c => c.Dispose());
    }

    private static async Task AssertEchoAsync(WireClient client, int headerSize, int seed)
    {
        var payload = new byte[100];
        new Random(seed).NextBytes(payload);
        var frame = new byte[headerSize + payload.Length];
        if (headerSize == 4)
        {
            BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length);
        }
        else
        {
            BinaryPrimitives.WriteInt64BigEndian(frame, payload.Length);
        }

        payload.CopyTo(frame, headerSize);
        await client.SendAsync(frame);
        Assert.Equal(frame, await client.ReadExactlyAsync(frame.Length));
    }

    /// <summary>Reads length frames whose payload starts with a big-endian sequence number; checks order and content.</summary>
    private static async Task<int> ReadNumberedFramesAsync(Socket socket, int expected, int size, CancellationToken cancellationToken)
    {
        var frame = 4 + size;
        var buffer = new byte[64 * KiB];
        var carried = 0;
        var next = 0;
        while (next < expected)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(carried), cancellationToken);
            Assert.True(read > 0, $"closed after {next} of {expected} messages");
            var available = carried + read;
            var offset = 0;
            for (; available - offset >= frame; offset += frame, next++)
            {
                var span = buffer.AsSpan(offset, frame);
                Assert.Equal(size, BinaryPrimitives.ReadInt32BigEndian(span));
                Assert.Equal(next, BinaryPrimitives.ReadInt32BigEndian(span[4..]));
                Assert.True(span[8..].IndexOfAnyExcept((byte)next) < 0, $"message {next} corrupted");
            }

            buffer.AsSpan(offset, available - offset).CopyTo(buffer);
            carried = available - offset;
        }

        return next;
    }
}
