using System.Buffers;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>The bounded send queue: full is reported (the seed's busy) or disconnects, per policy; nothing grows past the cap.</summary>
public class SendQueueTests
{
    private const int Cap = 64 * 1024;
    private const int Frame = 1024;

    [Fact]
    public async Task A_client_that_does_not_read_gets_QueueFull_and_the_queue_stays_within_its_cap()
    {
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { SendQueueMaxBytes = Cap };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var stalled = await fixture.ConnectAsync(receiveBufferSize: 4096);
        await handler.WaitForAsync("connected");

        var payload = new ReadOnlySequence<byte>(new byte[Frame]);
        var results = new List<SendResult>();
        var maxQueued = 0;
        for (var i = 0; i < 100_000 && !results.Contains(SendResult.QueueFull); i++)
        {
            results.Add(fixture.Server.SendToClient(1, payload));
            maxQueued = Math.Max(maxQueued, fixture.Server.GetQueuedBytes(1));
        }

        Assert.Contains(SendResult.QueueFull, results);
        Assert.InRange(maxQueued, 1, Cap + Frame + 4);

        // Still full, still refused, still bounded, and the client is kept under the default policy.
        for (var i = 0; i < 1000; i++)
        {
            fixture.Server.SendToClient(1, payload);
            Assert.InRange(fixture.Server.GetQueuedBytes(1), 0, Cap + Frame + 4);
        }

        Assert.Equal(1, fixture.Server.ClientCount);
        Assert.DoesNotContain(handler.Events, e => e.Kind == "disconnected");

        // Once the client reads, everything that was accepted arrives, in order and intact.
        var accepted = results.Count(r => r == SendResult.Queued);
        for (var i = 0; i < accepted; i++)
        {
            Assert.Equal(Frame, (await stalled.ReadLengthFrameAsync()).Length);
        }
    }

    [Fact]
    public async Task Disconnect_policy_closes_the_slow_consumer_and_a_broadcast_still_reaches_the_others()
    {
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { SendQueueMaxBytes = Cap, SlowConsumerPolicy = SlowConsumerPolicy.Disconnect, CloseFlushTimeout = TimeSpan.FromMilliseconds(200) };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var stalled = await fixture.ConnectAsync(receiveBufferSize: 4096);
        using var fast = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        var stalledId = fixture.ClientIdOf(stalled);
        var fastId = fixture.ClientIdOf(fast);

        var reader = Task.Run(async () =>
        {
            var count = 0;
            while (count < 2000)
            {
                await fast.ReadLengthFrameAsync();
                count++;
            }

            return count;
        });

        var payload = new ReadOnlySequence<byte>(new byte[Frame]);
        var filled = 0;
        while (filled < 100_000 && fixture.Server.SendToClient(stalledId, payload) == SendResult.Queued)
        {
            filled++;
        }

        Assert.True(filled < 100_000, "the stalled client's queue never filled");
        var fastQueued = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (fastQueued < 2000 && DateTime.UtcNow < deadline)
        {
            // The fast client is paced below its cap (it would be a slow consumer too, otherwise); the stalled one is not.
            fixture.Server.SendToClient(stalledId, payload);
            if (fixture.Server.GetQueuedBytes(fastId) > Cap / 2)
            {
                await Task.Delay(1);
                continue;
            }

            Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(fastId, payload));
            fastQueued++;
        }

        Assert.Equal(2000, fastQueued);
        var disconnected = await handler.WaitForAsync("disconnected", stalledId);
        Assert.Equal(DisconnectReason.SlowConsumer, disconnected.Reason!.Value.Reason);
        Assert.Equal(2000, await reader.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(1, fixture.Server.ClientCount);
    }
}
