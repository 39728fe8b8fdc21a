using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CbuffTcp.Tests.Telemetry;

/// <summary>Every instrument of docs/telemetry.md, read back through <see cref="MetricCollector{T}"/>.</summary>
public class MetricsTests
{
    private const string Meter = CbuffTcpTelemetry.MeterName;

    [Fact]
    public async Task Traffic_connections_and_their_duration_are_measured()
    {
        using var meters = new TestMeterFactory();
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { MeterFactory = meters });
        using var active = new MetricCollector<long>(meters, Meter, "cbufftcp.active_connections");
        using var duration = new MetricCollector<double>(meters, Meter, "cbufftcp.connection.duration");
        using var messages = new MetricCollector<long>(meters, Meter, "cbufftcp.messages");
        using var bytes = new MetricCollector<long>(meters, Meter, "cbufftcp.network.io");

        using (var client = await fixture.ConnectAsync())
        {
            for (var i = 0; i < 10; i++)
            {
                await client.SendLengthFrameAsync("hello"u8); // 4-byte header + 5 bytes
                Assert.Equal("hello"u8.ToArray(), await client.ReadLengthFrameAsync());
            }

            active.RecordObservableInstruments();
            Assert.Equal(1, active.LastMeasurement!.Value);
            messages.RecordObservableInstruments();
            Assert.InRange(Latest(messages, "receive"), 9, 10); // the 10th echo can reach us before its count is kept
        }

        // Once OnDisconnectedAsync has run, the loops have ended and every count is in; the client is gone from the
        // live set, and its traffic still counts: the totals never go backwards.
        await handler.WaitForAsync("disconnected");
        messages.RecordObservableInstruments();
        bytes.RecordObservableInstruments();
        Assert.Equal(10, Latest(messages, "receive"));
        Assert.Equal(10, Latest(messages, "transmit"));
        Assert.Equal(90, Latest(bytes, "receive"));
        Assert.Equal(90, Latest(bytes, "transmit"));
        active.RecordObservableInstruments();
        Assert.Equal(0, active.LastMeasurement!.Value);
        var ended = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.False(ended.Tags.ContainsKey("error.type")); // the client closed: a normal end
        Assert.InRange(ended.Value, 0, 60);
    }

    [Fact]
    public async Task An_abnormal_end_carries_its_reason_as_error_type()
    {
        using var meters = new TestMeterFactory();
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MeterFactory = meters }, new LengthPrefixedProtocol(maxFrameSize: 16));
        using var duration = new MetricCollector<double>(meters, Meter, "cbufftcp.connection.duration");

        using var client = await fixture.ConnectAsync();
        await client.SendLengthFrameAsync(new byte[17]);
        await handler.WaitForAsync("disconnected");

        var ended = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal("frame_too_large", ended.Tags["error.type"]);
    }

    [Fact]
    public async Task Rejected_connections_are_counted_with_the_limit_that_refused_them()
    {
        using var meters = new TestMeterFactory();
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MeterFactory = meters, MaxConnections = 1 });
        using var rejected = new MetricCollector<long>(meters, Meter, "cbufftcp.rejected_connections");

        using var first = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        await WireClient.AssertRefusedAsync(fixture.EndPoint);

        var refusal = Assert.Single(rejected.GetMeasurementSnapshot());
        Assert.Equal(1, refusal.Value);
        Assert.Equal("max_connections", refusal.Tags["cbufftcp.limit"]);
    }

    [Fact]
    public async Task Handler_errors_are_counted_by_exception_type()
    {
        using var meters = new TestMeterFactory();
        var handler = new ThrowingHandler();
        await using var fixture = await ServerFixture<ThrowingHandler>.StartAsync(handler, new TcpServerOptions { MeterFactory = meters });
        using var errors = new MetricCollector<long>(meters, Meter, "cbufftcp.handler.errors");

        using var client = await fixture.ConnectAsync();
        await client.SendLengthFrameAsync("boom"u8);
        await handler.WaitForAsync("disconnected");

        var error = Assert.Single(errors.GetMeasurementSnapshot());
        Assert.Equal(typeof(InvalidOperationException).FullName, error.Tags["error.type"]);
    }

    [Fact]
    public async Task Every_send_refused_by_a_full_queue_is_counted()
    {
        using var meters = new TestMeterFactory();
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { MeterFactory = meters, SendQueueMaxMessages = 4 };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var overflows = new MetricCollector<long>(meters, Meter, "cbufftcp.send_queue.rejections");

        // A client that never reads, with a small receive buffer: the queue fills once the kernel's buffers have.
        using var client = await fixture.ConnectAsync(receiveBufferSize: 4096);
        var id = (await handler.WaitForAsync("connected")).ClientId;
        var payload = new ReadOnlySequence<byte>(new byte[16 * 1024]);
        var refused = 0;
        for (var i = 0; i < 2000 && refused < 100; i++)
        {
            if (fixture.Server.SendToClient(id, payload) == SendResult.QueueFull)
            {
                refused++;
            }
        }

        Assert.True(refused > 0, "the queue never filled");
        Assert.Equal(refused, overflows.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    private static long Latest(MetricCollector<long> collector, string direction) =>
        collector.GetMeasurementSnapshot().Last(m => Equals(m.Tags["network.io.direction"], direction)).Value;

    /// <summary>Throws from OnReceivedAsync.</summary>
    private sealed class ThrowingHandler : RecordingHandler
    {
        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages) =>
            throw new InvalidOperationException("handler failed on purpose");
    }
}
