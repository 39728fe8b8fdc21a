using System.Buffers;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// The I/O threads' watchdog: a handler that blocks its I/O thread past <c>BlockedThreadWarning</c> is reported once,
/// naming its thread, its connection and its callback; handlers that return promptly never are. Alone: a blocked I/O
/// thread is shared with every other test's connections on it.
/// </summary>
[Collection(RunsAlone.Name)]
public class BlockedThreadTests
{
    [IoThreadsFact]
    public async Task On_the_default_io_mode_a_handler_that_blocks_its_io_thread_is_reported_once_with_its_connection_and_callback()
    {
        var provider = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(provider));
        using var meters = new TestMeterFactory();
        var handler = new SleepingHandler(TimeSpan.FromMilliseconds(2000));
        var options = new TcpServerOptions { IoMode = IoMode.Auto, BlockedThreadWarning = TimeSpan.FromMilliseconds(200), LoggerFactory = logging, MeterFactory = meters };
        await using var fixture = await ServerFixture<SleepingHandler>.StartAsync(handler, options);
        using var blocked = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.io_thread.blocked");
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        var id = fixture.ClientIdOf(client);

        await client.SendLengthFrameAsync("sleep"u8);
        Assert.Equal("sleep"u8.ToArray(), await client.ReadLengthFrameAsync(TimeSpan.FromSeconds(20))); // the echo after the sleep

        var report = Assert.Single(handler.Events, e => e.Kind == "error");
        Assert.Contains($"client {id}'s OnReceivedAsync", report.Text, StringComparison.Ordinal);
        Assert.Contains("must not block", report.Text, StringComparison.Ordinal);
        var logged = Assert.Single(provider.Collector.GetSnapshot(), r => r.Id.Id == 44);
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.Equal(id.ToString(System.Globalization.CultureInfo.InvariantCulture), logged.StructuredState!.Single(p => p.Key == "ClientId").Value);
        Assert.Equal("OnReceivedAsync", logged.StructuredState!.Single(p => p.Key == "Callback").Value);
        Assert.StartsWith("CbuffTcp I/O ", logged.StructuredState!.Single(p => p.Key == "Thread").Value, StringComparison.Ordinal);
        Assert.InRange(long.Parse(logged.StructuredState!.Single(p => p.Key == "StuckMilliseconds").Value!, System.Globalization.CultureInfo.InvariantCulture), 200, 2000);
        Assert.Equal(1, blocked.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [IoThreadsFact]
    public async Task A_tls_connections_handler_that_blocks_its_io_thread_is_reported_with_its_connection()
    {
        var handler = new SleepingHandler(TimeSpan.FromMilliseconds(1500));
        var options = new TcpServerOptions { IoMode = IoMode.IoThreads, BlockedThreadWarning = TimeSpan.FromMilliseconds(200) }.UseTls(TestCertificates.Localhost);
        await using var fixture = await ServerFixture<SleepingHandler>.StartAsync(handler, options, new CbuffTcp.Protocols.LineProtocol());
        var clientOptions = new TcpClientOptions
        {
            Tls = new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString(),
            },
        };
        var received = new RecordingHandler();
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new CbuffTcp.Protocols.LineProtocol(), received, clientOptions);
        await client.ConnectAsync("localhost", fixture.EndPoint.Port);
        await handler.WaitForAsync("connected");
        var id = handler.LastConnectedId;

        client.Send("sleep"u8.ToArray());
        await received.WaitUntilAsync(events => events.Any(e => e.Kind == "received"), timeoutSeconds: 20, what: "the echo after the sleep");

        var report = Assert.Single(handler.Events, e => e.Kind == "error");
        Assert.Contains($"client {id}'s OnReceivedAsync", report.Text, StringComparison.Ordinal);
    }

    [IoThreadsFact]
    public async Task Handlers_that_return_promptly_are_never_reported()
    {
        var handler = new SleepingHandler(TimeSpan.Zero);
        var options = new TcpServerOptions { IoMode = IoMode.IoThreads, BlockedThreadWarning = TimeSpan.FromMilliseconds(200) };
        await using var fixture = await ServerFixture<SleepingHandler>.StartAsync(handler, options);
        using var client = await fixture.ConnectAsync();

        // Busy for longer than several watchdog looks, one short callback after another.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        var echoes = 0;
        while (DateTime.UtcNow < until && echoes < 100_000)
        {
            await client.SendLengthFrameAsync("quick"u8);
            await client.ReadLengthFrameAsync();
            echoes++;
        }

        Assert.True(echoes > 100, $"only {echoes} echoes");
        Assert.DoesNotContain(handler.Events, e => e.Kind == "error");
    }

#if !THREAD_POOL
    [Fact]
    public void The_default_io_mode_is_auto_and_a_user_who_changes_nothing_runs_on_the_io_threads_with_the_watchdog_on()
    {
        // This assembly leaves the library's own default alone (IoModeUnderTest), so these are a user's defaults.
        Assert.Equal(IoMode.Auto, new TcpServerOptions().IoMode);
        Assert.Equal(IoMode.Auto, new TcpClientOptions().IoMode);
        Assert.Equal(TimeSpan.FromSeconds(1), new TcpServerOptions().BlockedThreadWarning);
    }

#endif
    [Fact]
    public void A_blocked_thread_warning_is_positive_or_infinite()
    {
        var server = new TcpServer<ReadOnlySequence<byte>>(new CbuffTcp.Protocols.LengthPrefixedProtocol(), new RecordingHandler(), new TcpServerOptions { BlockedThreadWarning = TimeSpan.Zero });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => server.StartAsync(0).GetAwaiter().GetResult());
        Assert.Equal("BlockedThreadWarning", error.ParamName);
    }

    /// <summary>Echoes, after blocking its thread for a while (Thread.Sleep: the kind of call the watchdog is for).</summary>
    public sealed class SleepingHandler(TimeSpan sleep) : RecordingHandler
    {
        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            Thread.Sleep(sleep);
            foreach (var message in messages)
            {
                connection.Send(message);
            }

            return ValueTask.CompletedTask;
        }
    }
}
