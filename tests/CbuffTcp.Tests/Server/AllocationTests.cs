using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Bytes the whole process allocates per echoed message in steady state (server and an allocation-free client),
/// with GC.GetTotalAllocatedBytes: the runtime's own timers and the test host add a little in the background.
/// </summary>
[Collection(RunsAlone.Name)]
public class AllocationTests(ITestOutputHelper output)
{
    private const int Batch = 64;

    [Fact]
    public async Task Echo_allocates_next_to_nothing_per_message_in_steady_state()
    {
        var handler = new Echo();
        await using var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler, new TcpServerOptions { IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan });
        handler.Server = server;
        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.LocalEndPoint!);

        var frames = Enumerable.Range(0, Batch).SelectMany(_ => WireClient.LengthFrame(new byte[32])).ToArray();
        var reply = new byte[frames.Length];
        await RoundTripsAsync(socket, frames, reply, 2_000); // warm-up: JIT, pools, socket event args

        const int rounds = 5_000;
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await RoundTripsAsync(socket, frames, reply, rounds);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(frames, reply);
        var perMessage = allocated / (double)(rounds * Batch);
        output.WriteLine($"{rounds * Batch:N0} echoed messages: {allocated:N0} bytes allocated by the whole process, {perMessage:F3} bytes per message");
#if DEBUG
        // Debug builds compile async state machines as classes: every await allocates. Only a gross leak shows here.
        const double limit = 64;
#else
        // Release: the server and this client allocate nothing per message; what remains is the runtime's background
        // (timers, the test host), spread over 320,000 messages. Any per-message allocation is 24 bytes or more.
        const double limit = 1;
#endif
        Assert.True(perMessage < limit, $"{perMessage:F3} bytes allocated per echoed message: something allocates per message");
    }

    private static async Task RoundTripsAsync(Socket socket, byte[] frames, byte[] reply, int rounds)
    {
        for (var round = 0; round < rounds; round++)
        {
            await socket.SendAsync(frames.AsMemory(), SocketFlags.None);
            var read = 0;
            while (read < reply.Length)
            {
                var n = await socket.ReceiveAsync(reply.AsMemory(read), SocketFlags.None);
                Assert.True(n > 0, "the server closed");
                read += n;
            }
        }
    }

    private sealed class Echo : TcpHandler<ReadOnlySequence<byte>>
    {
        public TcpServer<ReadOnlySequence<byte>>? Server { get; set; }

        public override ValueTask OnReceivedAsync(ClientInfo client, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var message in messages)
            {
                Server!.SendToClient(client.Id, message);
            }

            return ValueTask.CompletedTask;
        }
    }
}
