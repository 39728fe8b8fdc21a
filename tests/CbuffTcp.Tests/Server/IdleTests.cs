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
}
