using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CbuffTcp.Tests.InMemory;

/// <summary>
/// <see cref="TcpServerOptions.MessageRatePerConnection"/> and <see cref="TcpServerOptions.ByteRatePerConnection"/>: a
/// connection sending past its rate never gets more than its bucket plus what the time since it connected earned (the
/// limiter runs on real time: the bound is checked against a stopwatch started before, so a slow machine only makes
/// it looser), pauses (counted) instead of dropping, and delivers everything in order; another connection is served at
/// once meanwhile.
/// </summary>
public class ReceiveRateTests
{
    [Fact]
    public async Task A_connection_past_its_message_rate_pauses_and_gets_every_message_in_order_while_another_is_served()
    {
        using var meters = new TestMeterFactory();
        var handler = new EchoHandler();
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), handler, new TcpServerOptions { MessageRatePerConnection = 20, MeterFactory = meters });
        using var throttled = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.receive.throttled");
        var clock = Stopwatch.StartNew(); // before the connection: its bucket of 20 starts full
        using var sender = host.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5000));
        var id = (await handler.WaitForAsync("connected")).ClientId;
        await sender.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 60).Select(i => $"m{i}\n"))));

        await Eventually.TrueAsync(() => throttled.GetMeasurementSnapshot().Count > 0, "the sender paused at its rate");
        using var other = host.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5000));
        await other.WriteAsync("served\n"u8.ToArray());
        Assert.Equal("served", Encoding.ASCII.GetString((await other.ReceiveAsync()).ToArray())); // its own bucket: served at once

        var excess = await WaitForAllWithinRateAsync(handler, clock, () => handler.ReceivedBy(id).Count(), 60, seconds => 20 + (20 * seconds));
        Assert.True(excess is null, excess);
        Assert.Equal(Enumerable.Range(0, 60).Select(i => $"m{i}"), handler.ReceivedBy(id).Select(m => Encoding.ASCII.GetString(m)));
        Assert.All(throttled.GetMeasurementSnapshot(), m => Assert.Equal("message_rate_per_connection", m.Tags["cbufftcp.limit"]));
        Assert.Equal(DisconnectReason.RemoteClosed, await CloseAndWaitAsync(handler, sender, id)); // paused, never closed for it
    }

    [Fact]
    public async Task A_connection_past_its_byte_rate_reads_no_more_than_its_bucket_and_what_time_earned()
    {
        using var meters = new TestMeterFactory();
        var handler = new EchoHandler();
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), handler, new TcpServerOptions { ByteRatePerConnection = 2000, MeterFactory = meters });
        using var throttled = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.receive.throttled");
        var clock = Stopwatch.StartNew();
        using var sender = host.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 5000));
        var id = (await handler.WaitForAsync("connected")).ClientId;
        var lines = Enumerable.Range(0, 60).Select(i => $"{i:D3}{new string('x', 96)}").ToList(); // 100 bytes each with its \n
        await sender.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\n"))));

        var excess = await WaitForAllWithinRateAsync(handler, clock, () => host.Server.GetReceivedBytes(id), 6000, seconds => 2000 + (2000 * seconds));
        Assert.True(excess is null, excess);
        Assert.Equal(lines, handler.ReceivedBy(id).Select(m => Encoding.ASCII.GetString(m)));
        Assert.NotEmpty(throttled.GetMeasurementSnapshot());
        Assert.All(throttled.GetMeasurementSnapshot(), m => Assert.Equal("byte_rate_per_connection", m.Tags["cbufftcp.limit"]));
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(null, 0)]
    public void A_rate_below_one_is_refused_at_start(int? messages, int? bytes)
    {
        var server = new TcpServer<ReadOnlySequence<byte>>(new LineProtocol(), new EchoHandler(), new TcpServerOptions { MessageRatePerConnection = messages, ByteRatePerConnection = bytes });
        Assert.Throws<ArgumentOutOfRangeException>(() => server.StartAsync(0).GetAwaiter().GetResult());
    }

    /// <summary>
    /// Waits (on the handler's events) until <paramref name="count"/> reaches <paramref name="total"/>, checking at
    /// each event that it never passed what <paramref name="allowed"/> gives for the seconds on <paramref name="clock"/>
    /// (started before the connection); the first excess, or null.
    /// </summary>
    private static async Task<string?> WaitForAllWithinRateAsync(RecordingHandler handler, Stopwatch clock, Func<long> count, long total, Func<double, double> allowed)
    {
        string? excess = null;
        await handler.WaitUntilAsync(
            _ =>
            {
                var now = count();
                if (now > allowed(clock.Elapsed.TotalSeconds) && excess is null)
                {
                    excess = $"{now} after {clock.Elapsed.TotalSeconds:0.000} s: more than the rate allows";
                }

                return now == total;
            },
            timeoutSeconds: 30,
            what: $"all {total} within the rate");
        return excess;
    }

    private static async Task<DisconnectReason> CloseAndWaitAsync(RecordingHandler handler, InMemoryPeer<ReadOnlySequence<byte>> peer, long id)
    {
        peer.Dispose();
        return (await handler.WaitForAsync("disconnected", id)).Reason!.Value.Reason;
    }
}
