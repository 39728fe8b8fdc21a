using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Bytes the whole process allocates per echoed or broadcast message in steady state (server and allocation-free clients),
/// with GC.GetTotalAllocatedBytes: the runtime's own timers and the test host add a little in the background.
/// </summary>
[Collection(RunsAlone.Name)]
public class AllocationTests(ITestOutputHelper output)
{
    private const int Batch = 64;

#if DEBUG
    // Debug builds compile async state machines as classes: every await allocates. Only a gross leak shows here.
    private const double Limit = 64;
#else
    // Release: the server and these clients allocate nothing per message; what remains is the runtime's background
    // (timers, the test host), spread over 80,000 messages. Any per-message allocation is 24 bytes or more.
    private const double Limit = 1;
#endif

    [Theory]
    [InlineData(32, 5_000, false)]
    [InlineData(20_000, 200, false)] // a reply of 16 KiB or more joins the queue in its pack buffer's array: that array comes back for the next
    [InlineData(32, 5_000, true)] // AsyncReceive: the handler runs off the read loop, batches queued between them
    public async Task Echo_allocates_next_to_nothing_per_message_in_steady_state(int size, int rounds, bool asyncReceive)
    {
        await using var server = await StartAsync(new Echo(), asyncReceive);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.LocalEndPoint!);

        var (allocated, perMessage) = await MeasureAsync(socket, [socket], warmupRounds: rounds * 2 / 5, rounds, size); // warm-up: JIT, pools, socket event args
        output.WriteLine($"{rounds / 4 * Batch:N0} echoed messages of {size:N0} bytes (the quietest quarter of {rounds * Batch:N0}): {allocated:N0} bytes allocated by the whole process, {perMessage:F3} bytes per message");
        Assert.True(perMessage < Limit, $"{perMessage:F3} bytes allocated per echoed message: something allocates per message");
    }

    [Theory]
    [InlineData(false, 3, 5_000)] // SendToAllClients(message) for each message
    [InlineData(true, 3, 5_000)] // SendToAllClients(messages.AsSpan()): the batch at once
    [InlineData(true, 150, 400)] // to more idle queues than the runtime's pool keeps arrays for: each rents one at once
    public async Task Broadcast_allocates_next_to_nothing_per_message_in_steady_state(bool wholeBatch, int receivers, int rounds)
    {
        var handler = new Broadcaster(receivers + 1, wholeBatch);
        await using var server = await StartAsync(handler);
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i <= receivers; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                sockets.Add(socket);
                await socket.ConnectAsync(server.LocalEndPoint!);
            }

            await handler.AllConnected.WaitAsync(TimeSpan.FromSeconds(10)); // a broadcast skips clients not yet connected
            var (allocated, perMessage) = await MeasureAsync(sockets[0], [.. sockets], warmupRounds: rounds * 2 / 5, rounds);
            output.WriteLine($"{rounds / 4 * Batch:N0} messages broadcast to {sockets.Count} clients (the quietest quarter of {rounds * Batch:N0}): {allocated:N0} bytes allocated by the whole process, {perMessage:F3} bytes per broadcast");
            Assert.True(perMessage < Limit, $"{perMessage:F3} bytes allocated per broadcast message: something allocates per broadcast");
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    private static async Task<TcpServer<ReadOnlySequence<byte>>> StartAsync(ServerHandler handler, bool asyncReceive = false)
    {
        var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler, new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan, AsyncReceive = asyncReceive });
        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        return server;
    }

    /// <summary>
    /// Warms up, then measures the bytes the whole process allocated over <paramref name="rounds"/> rounds of
    /// <see cref="Batch"/> messages, in four windows, and returns the quietest window, in all and per message. The
    /// runtime's background allocates in bursts that can land in any one window; what the server allocates per
    /// message shows in every window.
    /// </summary>
    private static async Task<(long Allocated, double PerMessage)> MeasureAsync(Socket sender, Socket[] receivers, int warmupRounds, int rounds, int size = 32)
    {
        const int windows = 4;
        var frames = Enumerable.Range(0, Batch).SelectMany(_ => WireClient.LengthFrame(new byte[size])).ToArray();
        var reply = new byte[frames.Length];
        await RoundTripsAsync(sender, receivers, frames, reply, warmupRounds);

        var quietest = long.MaxValue;
        for (var window = 0; window < windows; window++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            await RoundTripsAsync(sender, receivers, frames, reply, rounds / windows);
            quietest = Math.Min(quietest, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        Assert.Equal(frames, reply);
        return (quietest, quietest / (double)(rounds / windows * Batch));
    }

    /// <summary>Each round, <paramref name="sender"/> sends the frames and every one of <paramref name="receivers"/> reads them all back.</summary>
    private static async Task RoundTripsAsync(Socket sender, Socket[] receivers, byte[] frames, byte[] reply, int rounds)
    {
        for (var round = 0; round < rounds; round++)
        {
            await sender.SendAsync(frames.AsMemory(), SocketFlags.None);
            foreach (var receiver in receivers) // an array: its foreach allocates no enumerator
            {
                var read = 0;
                while (read < reply.Length)
                {
                    var n = await receiver.ReceiveAsync(reply.AsMemory(read), SocketFlags.None);
                    Assert.True(n > 0, "the server closed");
                    read += n;
                }
            }
        }
    }

    /// <summary>A handler that answers through the server it serves.</summary>
    private abstract class ServerHandler : TcpHandler<ReadOnlySequence<byte>>
    {
    }

    private sealed class Broadcaster(int clients, bool wholeBatch) : ServerHandler
    {
        private readonly TaskCompletionSource _allConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _connected;

        public Task AllConnected => _allConnected.Task;

        public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
        {
            if (Interlocked.Increment(ref _connected) == clients)
            {
                _allConnected.TrySetResult();
            }

            return ValueTask.CompletedTask;
        }

        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            if (wholeBatch)
            {
                connection.Server!.SendToAllClients(messages.AsSpan());
                return ValueTask.CompletedTask;
            }

            foreach (var message in messages)
            {
                connection.Server!.SendToAllClients(message);
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class Echo : ServerHandler
    {
        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var message in messages)
            {
                connection.Send(message);
            }

            return ValueTask.CompletedTask;
        }
    }
}
