using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

public class BackpressureTests
{
    private const int MaxFrame = 64 * 1024;
    private const int FrameSize = 1024;
    private const int Frames = 16 * 1024; // 16 MiB + headers: several times what the kernel buffers hold

    [Fact]
    public async Task A_blocked_handler_stops_reading_that_client_and_every_byte_arrives_after_release()
    {
        var handler = new BlockingHandler();
        var options = new TcpServerOptions();
        await using var fixture = await ServerFixture<BlockingHandler>.StartAsync(handler, options, new LengthPrefixedProtocol(maxFrameSize: MaxFrame));
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        var id = handler.LastConnectedId;

        var sending = Task.Run(async () =>
        {
            var frame = new byte[4 + FrameSize];
            BinaryPrimitives.WriteUInt32BigEndian(frame, FrameSize);
            var batch = new byte[64 * frame.Length];
            for (var sent = 0; sent < Frames; sent += 64)
            {
                for (var j = 0; j < 64; j++)
                {
                    BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), sent + j);
                    frame.CopyTo(batch, j * frame.Length);
                }

                await client.SendAsync(batch);
            }
        });

        // The handler is stuck in its first batch. Wait until the server stops taking bytes (the sender stalls in TCP).
        await handler.FirstBatchStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var received = await WaitUntilStableAsync(() => fixture.Server.GetReceivedBytes(id));
        var firstBatchBytes = handler.FirstBatchCount * (4L + FrameSize);
        var bound = firstBatchBytes + MaxFrame + 128 * 1024; // the batch being handled + max frame + a read and slack
        Assert.InRange(received - firstBatchBytes, 0, bound - firstBatchBytes);
        Assert.False(sending.IsCompleted, "the sender should be stalled by backpressure");

        handler.Release();
        await sending.WaitAsync(TimeSpan.FromSeconds(60));
        await handler.WaitUntilAsync(_ => handler.Count == Frames, timeoutSeconds: 60, what: "every frame");
        Assert.Empty(handler.Violations);
    }

    private static async Task<long> WaitUntilStableAsync(Func<long> read)
    {
        // No event marks "the peer is stalled": sample until the count holds still for 300 ms (bounded to 20 s).
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var last = read();
        var stableSince = DateTime.UtcNow;
        while (DateTime.UtcNow - stableSince < TimeSpan.FromMilliseconds(300) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            var now = read();
            if (now != last)
            {
                last = now;
                stableSince = DateTime.UtcNow;
            }
        }

        return last;
    }

    /// <summary>Blocks in its first batch until released; then checks every frame's number and size, in order.</summary>
    public sealed class BlockingHandler : RecordingHandler
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _next;

        public TaskCompletionSource FirstBatchStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int FirstBatchCount { get; private set; }

        public int Count => Volatile.Read(ref _next);

        public List<string> Violations { get; } = [];

        public void Release() => _release.TrySetResult();

        public override async ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            if (FirstBatchStarted.TrySetResult())
            {
                FirstBatchCount = messages.Count;
            }

            await _release.Task;
            foreach (var message in messages)
            {
                var number = BinaryPrimitives.ReadInt32BigEndian(message.Slice(0, 4).ToArray());
                if (number != _next || message.Length != FrameSize)
                {
                    Violations.Add($"frame {_next}: got number {number}, {message.Length} bytes");
                }

                Volatile.Write(ref _next, _next + 1);
            }

            await base.OnReceivedAsync(connection, new MessageBatch<ReadOnlySequence<byte>>());
        }
    }
}
