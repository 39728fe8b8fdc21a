using System.Buffers;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// A reply queued by a client's own handler goes out from the thread that handled the batch (no hop to the thread
/// pool, one send for the batch's replies); a send to any other client wakes that client's write loop on the pool,
/// once the handler returns, once for all the handler queued for it.
/// </summary>
public class ReplyPathTests
{
    private const int RoundTrips = 50;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_echo_is_sent_by_the_thread_that_handled_the_batch(bool asyncReceive)
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = asyncReceive });
        using var client = await fixture.ConnectAsync();

        for (var i = 0; i < RoundTrips; i++)
        {
            // One message in flight at a time: a reply usually finds the write loop asleep, so it needs a wake-up.
            var payload = BitConverter.GetBytes(i);
            await client.SendLengthFrameAsync(payload);
            Assert.Equal(payload, await client.ReadLengthFrameAsync());
        }

        // Every wake-up came from the client's own handler, so every one ran on the handling thread.
        Assert.InRange(fixture.Server.TotalWriteLoopWakeups(), 1, RoundTrips);
        Assert.Equal(fixture.Server.TotalWriteLoopWakeups(), fixture.Server.TotalInlineWriteLoopWakeups());
    }

    [Fact]
    public async Task A_send_to_another_client_wakes_its_write_loop_on_the_thread_pool()
    {
        await using var fixture = await ServerFixture<ForwardingHandler>.StartAsync(new ForwardingHandler());
        using var pair = await ConnectReadyPairAsync(fixture);
        var (sender, receiver) = (pair.Sender, pair.Receiver);

        for (var i = 0; i < RoundTrips; i++)
        {
            await sender.SendLengthFrameAsync([(byte)i]);
            Assert.Equal([(byte)i], await receiver.ReadLengthFrameAsync());
        }

        // (Fewer wake-ups than messages when a write loop had not gone back to sleep before the next message came.)
        Assert.InRange(fixture.Server.TotalWriteLoopWakeups(), 2, RoundTrips + 1);
        Assert.Equal(0, fixture.Server.TotalInlineWriteLoopWakeups());
    }

    [Fact]
    public async Task A_handlers_sends_to_another_client_wake_its_write_loop_once_when_the_handler_returns()
    {
        const int Messages = 40;
        var handler = new ForwardingHandler { WorkPerMessage = TimeSpan.FromMilliseconds(2) };
        await using var fixture = await ServerFixture<ForwardingHandler>.StartAsync(handler);
        using var pair = await ConnectReadyPairAsync(fixture);
        var (sender, receiver) = (pair.Sender, pair.Receiver);
        var wakeupsBefore = fixture.Server.TotalWriteLoopWakeups();

        // One write, so one batch for the handler, which takes 2 ms per message: a write loop woken at the first
        // forward would have sent several times before the handler returned (on the I/O threads, 34 wake-ups were
        // seen before the wake-ups were held; on the thread pool a wake-up queued to the handler's own worker
        // happened to wait for it too, which nothing guaranteed).
        var frames = Enumerable.Range(0, Messages).SelectMany(i => new byte[] { 0, 0, 0, 1, (byte)i }).ToArray();
        await sender.SendAsync(frames);
        for (var i = 0; i < Messages; i++)
        {
            Assert.Equal([(byte)i], await receiver.ReadLengthFrameAsync());
        }

        Assert.Equal(Messages, handler.LargestBatch); // else the test proves nothing
        Assert.Equal(1, fixture.Server.TotalWriteLoopWakeups() - wakeupsBefore);
    }

    /// <summary>
    /// Two clients of a forwarding server, both ready: a message from the receiver reaching the sender shows it (a
    /// broadcast skips a client whose OnConnectedAsync has not returned yet).
    /// </summary>
    private static async Task<ClientPair> ConnectReadyPairAsync(ServerFixture<ForwardingHandler> fixture)
    {
        var pair = new ClientPair(await fixture.ConnectAsync(), await fixture.ConnectAsync());
        await pair.Receiver.SendLengthFrameAsync("ready"u8);
        Assert.Equal("ready"u8.ToArray(), await pair.Sender.ReadLengthFrameAsync());
        return pair;
    }

    private sealed record ClientPair(WireClient Sender, WireClient Receiver) : IDisposable
    {
        public void Dispose()
        {
            Sender.Dispose();
            Receiver.Dispose();
        }
    }

    /// <summary>Sends every message to every client but its sender.</summary>
    private sealed class ForwardingHandler : RecordingHandler
    {
        /// <summary>Time the handler spends on each message after forwarding it (busy, as real work would be).</summary>
        public TimeSpan WorkPerMessage { get; init; }

        public int LargestBatch { get; private set; }

        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            LargestBatch = Math.Max(LargestBatch, messages.Count);
            foreach (var message in messages)
            {
                connection.Server!.SendToAllClientsExcept(connection.Id, message);
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                while (System.Diagnostics.Stopwatch.GetElapsedTime(started) < WorkPerMessage)
                {
                    Thread.SpinWait(100);
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
