using System.Buffers;
using System.Net;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.InMemory;

/// <summary>The connection core over the in-memory transport: where a socket adds nothing, none is used.</summary>
public class ConnectionCoreTests
{
    private static readonly ReadOnlySequence<byte>[] FiveLines = [.. Enumerable.Range(1, 5).Select(i => Line($"line {i}"))];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_message_read_before_a_half_close_is_handled_and_its_reply_sent_before_the_close(bool asyncReceive)
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = asyncReceive }, new LineProtocol());
        using var peer = await fixture.ConnectAsync();

        await peer.WriteAsync("line 1\nline 2\nline 3\nline 4\nline 5\n"u8.ToArray());
        peer.ShutdownSend(); // FIN right behind the five lines: they are read in the same pass as the end of the stream

        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal($"line {i}", Text(await peer.ReceiveAsync()));
        }

        Assert.Equal(ConnectionEnd.Closed, await peer.WaitForEndAsync());
        var disconnected = await handler.WaitForAsync("disconnected", peer.ClientId);
        Assert.Equal(DisconnectReason.RemoteClosed, disconnected.Reason!.Value.Reason);
        Assert.Equal(5, handler.ReceivedBy(peer.ClientId).Count());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_batch_send_through_the_connection_arrives_whole_and_in_order(bool asyncReceive)
    {
        var handler = new BatchReplyHandler();
        await using var fixture = await InMemoryFixture<BatchReplyHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = asyncReceive }, new LineProtocol());
        using var peer = await fixture.ConnectAsync();

        await peer.SendAsync(Line("go"));
        foreach (var expected in FiveLines)
        {
            Assert.Equal(Text(expected), Text(await peer.ReceiveAsync()));
        }

        Assert.Equal([SendResult.Queued], handler.Results);
    }

    [Fact]
    public async Task After_a_read_that_fills_its_buffer_the_next_read_comes_before_any_wait()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler);
        var (client, serverSide) = InMemoryTransport.CreatePair(new IPEndPoint(IPAddress.Loopback, 40_001), fixture.Host.EndPoint, 2 * 1024 * 1024);

        // 1 MiB of 32 KiB frames is there before the server reads: its reads fill their buffers (4 KiB, doubling to
        // 256 KiB), and after each full one it reads again at once instead of waiting first.
        var frame = new byte[4 + 32 * 1024];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, 32 * 1024);
        for (var i = 0; i < 32; i++)
        {
            await client.SendAsync(frame);
        }

        Assert.NotNull(fixture.Server.AdmitTransport(serverSide));
        var echoed = 0;
        var buffer = new byte[64 * 1024];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (echoed < 32 * frame.Length)
        {
            await client.WaitForDataAsync().AsTask().WaitAsync(bound.Token);
            var read = await client.ReceiveAsync(buffer);
            echoed += Math.Max(read, 0);
        }

        Assert.True(serverSide.Receives >= 8, $"{serverSide.Receives} reads");
        Assert.True(serverSide.Waits * 2 < serverSide.Receives, $"{serverSide.Waits} waits for {serverSide.Receives} reads");
        client.Abort();
    }

    [Fact]
    public async Task A_reset_by_the_client_is_reported_as_Reset_and_a_local_abort_as_Aborted()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler);
        using var resetting = await fixture.ConnectAsync();
        using var aborted = await fixture.ConnectAsync();

        resetting.Reset();
        aborted.Connection!.Abort("misbehaving");

        Assert.Equal(DisconnectReason.Reset, (await handler.WaitForAsync("disconnected", resetting.ClientId)).Reason!.Value.Reason);
        Assert.Equal(new DisconnectInfo(DisconnectReason.Aborted, "misbehaving"), (await handler.WaitForAsync("disconnected", aborted.ClientId)).Reason);
        Assert.Equal(ConnectionEnd.Reset, await aborted.WaitForEndAsync());
    }

    [Fact]
    public async Task Close_flushes_what_was_queued_then_ends_gracefully_with_its_reason()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, protocol: new LineProtocol());
        using var peer = await fixture.ConnectAsync();

        var connection = peer.Connection!;
        Assert.Equal(SendResult.Queued, connection.Send(FiveLines));
        connection.Close("done");
        Assert.Equal(SendResult.Closed, connection.Send(Line("too late")));

        foreach (var expected in FiveLines)
        {
            Assert.Equal(Text(expected), Text(await peer.ReceiveAsync()));
        }

        Assert.Equal(ConnectionEnd.Closed, await peer.WaitForEndAsync());
        Assert.Equal(new DisconnectInfo(DisconnectReason.ClosedLocally, "done"), (await handler.WaitForAsync("disconnected", peer.ClientId)).Reason);
    }

    [Fact]
    public async Task The_first_of_racing_closes_decides_the_reason_and_no_other_is_ever_reported()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler);
        var graceful = new DisconnectInfo(DisconnectReason.ClosedLocally, "graceful");
        var abrupt = new DisconnectInfo(DisconnectReason.Aborted, "abrupt");

        for (var round = 0; round < 200; round++)
        {
            using var peer = await fixture.ConnectAsync();
            var connection = peer.Connection!;
            using var start = new Barrier(2);
            var closing = Task.Run(() =>
            {
                start.SignalAndWait();
                connection.Close("graceful");
            });
            start.SignalAndWait();
            connection.Abort("abrupt");
            await closing;

            var reported = (await handler.WaitForAsync("disconnected", peer.ClientId)).Reason!.Value;
            Assert.True(reported == graceful || reported == abrupt, $"round {round}: reported {reported}");
        }
    }

    [Fact]
    public async Task Past_the_per_ip_limit_a_client_is_refused_before_any_callback_and_another_address_is_served()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { MaxConnectionsPerIp = 1 });
        var address = IPAddress.Parse("10.1.2.3");
        using var first = fixture.Host.Connect(new IPEndPoint(address, 5000));
        using var second = fixture.Host.Connect(new IPEndPoint(address, 5001));
        using var other = fixture.Host.Connect(new IPEndPoint(IPAddress.Parse("10.1.2.4"), 5000));

        Assert.NotNull(first.Connection);
        Assert.Null(second.Connection);
        Assert.Equal(ConnectionEnd.Reset, await second.WaitForEndAsync());
        Assert.Equal(1, fixture.Server.RejectedConnections);

        await other.SendAsync(Bytes("still served"));
        Assert.Equal("still served", Text(await other.ReceiveAsync()));
        Assert.Equal(address, Assert.IsType<IPEndPoint>(first.Connection!.RemoteEndPoint).Address);
    }

    [Fact]
    public async Task A_client_that_stops_reading_fills_its_own_queue_only()
    {
        const int cap = 16 * 1024;
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { SendQueueMaxBytes = cap });
        using var stalled = await fixture.ConnectAsync(bufferSize: 4096);
        using var reader = await fixture.ConnectAsync();

        var filler = Bytes(new string('x', 1000));
        var queued = 0;
        while (queued < 10_000 && stalled.Connection!.Send(filler) == SendResult.Queued)
        {
            queued++;
        }

        Assert.InRange(queued, 1, 9_999);
        Assert.InRange(stalled.Connection!.QueuedBytes, cap - 1004, cap + 4096);
        Assert.Equal(SendResult.Queued, reader.Connection!.Send(Bytes("unaffected")));
        Assert.Equal("unaffected", Text(await reader.ReceiveAsync()));

        for (var i = 0; i < queued; i++)
        {
            Assert.Equal(1000, (await stalled.ReceiveAsync()).Length); // reading again drains it
        }
    }

    [Fact]
    public async Task A_frame_left_incomplete_is_closed_when_the_fake_clock_passes_the_frame_timeout()
    {
        var clock = new FakeTimeProvider();
        var handler = new EchoHandler();
        var options = new TcpServerOptions { FrameTimeout = TimeSpan.FromSeconds(5), IdleTimeout = Timeout.InfiniteTimeSpan, TimeProvider = clock };
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, options);
        using var peer = await fixture.ConnectAsync();

        await peer.WriteAsync(new byte[] { 0, 0, 0, 10, 1, 2 }); // 2 of 10 bytes
        await WaitUntilAsync(() => peer.UnreadByServer == 0 && fixture.Server.Clients.Single().IsAwaitingData);
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(peer.Connection!.IsClosing);
        clock.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(DisconnectReason.FrameTimeout, (await handler.WaitForAsync("disconnected", peer.ClientId)).Reason!.Value.Reason);
        Assert.Equal(ConnectionEnd.Closed, await peer.WaitForEndAsync());
    }

    [Fact]
    public async Task A_handler_keeps_typed_state_per_connection_without_casting()
    {
        var handler = new CountingHandler();
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), handler);
        using var alice = host.Connect();
        using var bob = host.Connect();

        await alice.SendAsync(Line("a"));
        await alice.SendAsync(Line("a"));
        await bob.SendAsync(Line("b"));
        Assert.Equal("1", Text(await alice.ReceiveAsync()));
        Assert.Equal("2", Text(await alice.ReceiveAsync()));
        Assert.Equal("1", Text(await bob.ReceiveAsync()));
        Assert.IsType<CountingHandler.Tally>(alice.Connection!.State);
    }

    [Fact]
    public async Task One_handler_class_serves_both_the_server_and_a_client()
    {
        var serverSide = new PingPongHandler();
        var clientSide = new PingPongHandler();
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), serverSide);
        await using var client = await host.ConnectClientAsync(clientSide);

        Assert.Equal(SendResult.Queued, client.Send(Line("ping 0")));
        await clientSide.Done.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(PingPongHandler.Rounds, clientSide.Seen); // pings 0, 2, 4 … reached the server, pongs the client
        Assert.Equal(PingPongHandler.Rounds, serverSide.Seen);
        Assert.Null(client.Connection!.Server);
        Assert.Same(host.Server, serverSide.ServerSeen);
    }

    [Fact]
    public async Task The_protocols_frame_limit_is_the_connections_a_custom_protocol_included()
    {
        var handler = new EchoHandler();
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, protocol: new NeverFramedProtocol(maxFrameSize: 1000));
        using var peer = await fixture.ConnectAsync();

        await peer.WriteAsync(new byte[40 * 1024]); // no message forms: past the limit and a read, the client is closed

        Assert.Equal(DisconnectReason.FrameTooLarge, (await handler.WaitForAsync("disconnected", peer.ClientId)).Reason!.Value.Reason);
        var error = Assert.IsType<FrameTooLargeException>((await handler.WaitForAsync("connection-error", peer.ClientId)).Error);
        Assert.Equal(1000, error.MaxFrameSize);
    }

    [Fact]
    public async Task A_protocol_whose_frame_limit_is_out_of_range_fails_the_start()
    {
        await using var server = new TcpServer<ReadOnlySequence<byte>>(new NeverFramedProtocol(maxFrameSize: 0), new EchoHandler());
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.Contains("MaxFrameSize", error.Message, StringComparison.Ordinal);
        Assert.Equal(ServerStatus.Closed, server.Status);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));

    private static ReadOnlySequence<byte> Bytes(string text) => Line(text);

    private static string Text(ReadOnlySequence<byte> message) => Encoding.UTF8.GetString(message);

    /// <summary>A protocol that never finds a message in its input, with the frame limit it is given.</summary>
    public sealed class NeverFramedProtocol(int maxFrameSize) : IProtocol<ReadOnlySequence<byte>>
    {
        public int MaxFrameSize => maxFrameSize;

        public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
        {
            message = default;
            return false;
        }

        public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output) => output.Write(message.ToArray());
    }

    /// <summary>Answers "go" with five lines in one batch send.</summary>
    public sealed class BatchReplyHandler : RecordingHandler
    {
        public List<SendResult> Results { get; } = [];

        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            Results.Add(connection.Send(FiveLines));
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Counts each connection's lines in a state object of its own type, and answers with the count.</summary>
    public sealed class CountingHandler : TcpHandler<ReadOnlySequence<byte>, CountingHandler.Tally>
    {
        protected override Tally CreateState(TcpConnection<ReadOnlySequence<byte>> connection) => new();

        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, Tally state, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var _ in messages)
            {
                connection.Send(Line((++state.Lines).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            return ValueTask.CompletedTask;
        }

        public sealed class Tally
        {
            public int Lines { get; set; }
        }
    }

    /// <summary>Answers "ping N" with "ping N+1" on either side, through the connection it is given, until N reaches twice the rounds.</summary>
    public sealed class PingPongHandler : TcpHandler<ReadOnlySequence<byte>>
    {
        public const int Rounds = 10;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Seen { get; private set; }

        public TcpServer<ReadOnlySequence<byte>>? ServerSeen { get; private set; }

        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            ServerSeen ??= connection.Server;
            foreach (var message in messages)
            {
                var n = int.Parse(Text(message)["ping ".Length..], System.Globalization.CultureInfo.InvariantCulture);
                Seen++;
                if (n + 1 >= 2 * Rounds)
                {
                    Done.TrySetResult();
                }
                else
                {
                    connection.Send(Line($"ping {n + 1}"));
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
