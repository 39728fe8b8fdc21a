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
