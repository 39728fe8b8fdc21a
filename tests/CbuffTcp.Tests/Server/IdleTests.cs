using System.Diagnostics;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

public class IdleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_thousand_idle_clients_never_wake_a_write_loop()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var clients = new List<WireClient>();
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                clients.Add(await fixture.ConnectAsync());
            }

            await handler.WaitUntilAsync(_ => fixture.Server.ClientCount == 1000, timeoutSeconds: 30, what: "1,000 clients");

            // Idle for a while: nothing may run. The write loops are parked on their signal (no polling, no timers),
            // so their wake-up count stays exactly zero however long we wait.
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            await Task.Delay(1000);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            Assert.Equal(0, fixture.Server.TotalWriteLoopWakeups());
            output.WriteLine($"1,000 idle clients: process CPU {cpu.TotalMilliseconds:0} ms over {watch.ElapsedMilliseconds} ms (measurement, not asserted)");

            // One send wakes exactly one write loop once.
            fixture.Server.SendToClient(fixture.Server.Clients[0].Id, new System.Buffers.ReadOnlySequence<byte>("x"u8.ToArray()));
            await handler.WaitUntilAsync(_ => fixture.Server.TotalWriteLoopWakeups() == 1, what: "one wake-up");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Only_a_send_that_had_to_wait_gives_a_connection_a_write_loop_which_then_stays()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using var quick = await fixture.ConnectAsync();
        using var slow = await fixture.ConnectAsync(receiveBufferSize: 4096);
        await handler.WaitUntilAsync(_ => fixture.Server.ClientCount == 2, what: "two clients");
        var server = fixture.Server;
        var quickConnection = server.Clients.Single(c => c.Id == fixture.ClientIdOf(quick));
        var slowConnection = server.Clients.Single(c => c.Id == fixture.ClientIdOf(slow));

        // A reader that keeps up: every send completes at once, in write passes that leave nothing behind.
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(SendResult.Queued, quickConnection.Send(new System.Buffers.ReadOnlySequence<byte>(new byte[100])));
            Assert.Equal(100, (await quick.ReadLengthFrameAsync()).Length);
        }

        Assert.False(quickConnection.HasWriteLoop);

        // A reader that does not read: the socket's buffer fills, a send must wait, and the connection gets its loop.
        var payload = new byte[64 * 1024];
        var queued = 0;
        for (; queued < 64 && !slowConnection.HasWriteLoop; queued++)
        {
            payload.AsSpan().Fill((byte)queued);
            var result = slowConnection.Send(new System.Buffers.ReadOnlySequence<byte>(payload));
            if (result == SendResult.QueueFull)
            {
                break; // the queue is at its cap before the pass got to wait (a busy machine): the socket is full all the same
            }

            Assert.Equal(SendResult.Queued, result);
            await Task.Yield();
        }

        await handler.WaitUntilAsync(_ => slowConnection.HasWriteLoop, what: "a send that waits");

        // Everything arrives in order once the reader reads, and the loop (woken by its signal now) keeps delivering.
        for (var i = 0; i < queued; i++)
        {
            var frame = await slow.ReadLengthFrameAsync();
            Assert.Equal(payload.Length, frame.Length);
            Assert.All(frame, b => Assert.Equal((byte)i, b));
        }

        Assert.Equal(SendResult.Queued, slowConnection.Send(new System.Buffers.ReadOnlySequence<byte>("after"u8.ToArray())));
        Assert.Equal("after"u8.ToArray(), await slow.ReadLengthFrameAsync());
        Assert.True(slowConnection.HasWriteLoop);
        Assert.False(quickConnection.HasWriteLoop);
        output.WriteLine($"the slow reader's sends waited after {queued} frames of 64 KiB");
    }
}
