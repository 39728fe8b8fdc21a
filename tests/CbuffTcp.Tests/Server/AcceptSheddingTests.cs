using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Shedding at the door (<see cref="TcpServerOptions.AcceptHighWater"/>): at the high-water mark the server stops
/// accepting (a new client waits in the listen backlog, neither served nor reset), and once connections close down to
/// the low-water mark it accepts again and serves the waiting client; each transition is logged and measured.
/// </summary>
public class AcceptSheddingTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task At_the_high_water_mark_new_clients_wait_unserved_and_are_served_once_connections_fall_to_the_low_water_mark()
    {
        var logs = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var meters = new TestMeterFactory();
        var options = new TcpServerOptions { AcceptHighWater = 3, AcceptLowWater = 1, LoggerFactory = logging, MeterFactory = meters };
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler(), options, new LineProtocol());
        using var paused = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.accept.paused");

        var served = new List<WireClient>();
        for (var i = 0; i < 3; i++)
        {
            var client = await fixture.ConnectAsync();
            await client.SendLineAsync($"client {i}");
            Assert.Equal($"client {i}", await client.ReadLineAsync());
            served.Add(client);
        }

        using var waiting = await fixture.ConnectAsync(); // the kernel completes the handshake: it sits in the backlog
        await waiting.SendLineAsync("waiting");
        var reply = waiting.ReadLineAsync(TimeSpan.FromSeconds(20));
        Assert.False(await Completes(reply, Quiet), "a client past the high-water mark was served (or reset)");
        Assert.Equal(0, fixture.Server.RejectedConnections);
        Assert.Equal(3, fixture.Server.ClientCount);

        served[0].Dispose();
        Assert.False(await Completes(reply, Quiet), "accepting resumed above the low-water mark"); // 2 left: still above 1
        served[1].Dispose();
        Assert.Equal("waiting", await reply); // 1 left: at the low-water mark, the waiting client is accepted and served

        var log = logs.Collector.GetSnapshot();
        Assert.Contains(log, r => r.Id.Id == 46 && r.Message.Contains("high-water mark of 3", StringComparison.Ordinal));
        Assert.Contains(log, r => r.Id.Id == 47 && r.Message.Contains("low-water mark of 1", StringComparison.Ordinal));
        Assert.Equal([1, -1], paused.GetMeasurementSnapshot().Select(m => m.Value).Take(2));
        served[2].Dispose();
    }

    [Fact]
    public async Task At_the_memory_high_water_mark_new_clients_wait_unserved_and_are_served_once_memory_frees_to_the_low_water_mark()
    {
        var logs = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var meters = new TestMeterFactory();
        // Large enough that what the kernel's buffers absorb of the queue (a few MiB) cannot take it under the low-water mark.
        const int Budget = 64 * 1024 * 1024;
        var options = new TcpServerOptions { MemoryBudget = Budget, SendQueueMaxBytes = Budget, AcceptMemoryHighWater = 0.5, AcceptMemoryLowWater = 0.25, LoggerFactory = logging, MeterFactory = meters };
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler(), options, new LineProtocol());
        using var paused = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.accept.paused");

        // A reader that never reads: the server's queue for it fills half the budget once the kernel's buffers are full.
        using var stalled = await fixture.ConnectAsync(receiveBufferSize: 4096);
        await fixture.Handler.WaitForAsync("connected");
        var line = new System.Buffers.ReadOnlySequence<byte>(new byte[60 * 1024]);
        for (var sent = 0; fixture.Server.Memory.Used < Budget / 2; sent++)
        {
            Assert.True(sent < 2000, $"the queue never filled half the budget ({fixture.Server.Memory.Used} bytes)");
            if (fixture.Server.SendToClient(fixture.Handler.LastConnectedId, line) != SendResult.Queued)
            {
                await Task.Delay(10); // the write loop is moving what it can into the kernel
            }
        }

        using var waiting = await fixture.ConnectAsync(); // the kernel completes the handshake: it sits in the backlog
        await waiting.SendLineAsync("waiting");
        var reply = waiting.ReadLineAsync(TimeSpan.FromSeconds(20));
        Assert.False(await Completes(reply, Quiet), "a client past the memory high-water mark was served (or reset)");
        Assert.Equal(1, fixture.Server.ClientCount);

        stalled.Socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        stalled.Dispose(); // a reset: its queue is dropped and the memory goes back under the low-water mark
        Assert.Equal("waiting", await reply);

        var log = logs.Collector.GetSnapshot();
        Assert.Contains(log, r => r.Id.Id == 49 && r.Message.Contains($"high-water mark of {Budget / 2}", StringComparison.Ordinal));
        Assert.Contains(log, r => r.Id.Id == 53 && r.Message.Contains($"low-water mark of {Budget / 4}", StringComparison.Ordinal));
        Assert.Equal([1, -1], paused.GetMeasurementSnapshot().Select(m => m.Value).Take(2));
    }

    [Theory]
    [InlineData(0.0, null)]
    [InlineData(1.5, null)]
    [InlineData(0.5, 0.5)]
    [InlineData(0.5, -0.1)]
    [InlineData(double.NaN, null)]
    public void Impossible_memory_marks_are_refused_at_start(double high, double? low)
    {
        var server = new TcpServer<System.Buffers.ReadOnlySequence<byte>>(new LineProtocol(), new EchoHandler(), new TcpServerOptions { AcceptMemoryHighWater = high, AcceptMemoryLowWater = low });
        Assert.ThrowsAny<ArgumentException>(() => server.StartAsync(0).GetAwaiter().GetResult());
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(5, 5)]
    [InlineData(20_000, null)]
    public void Impossible_marks_are_refused_at_start(int high, int? low)
    {
        var server = new TcpServer<System.Buffers.ReadOnlySequence<byte>>(new LineProtocol(), new EchoHandler(), new TcpServerOptions { MaxConnections = 10_000, AcceptHighWater = high, AcceptLowWater = low });
        Assert.ThrowsAny<ArgumentException>(() => server.StartAsync(0).GetAwaiter().GetResult());
    }

    private static async Task<bool> Completes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;
}
