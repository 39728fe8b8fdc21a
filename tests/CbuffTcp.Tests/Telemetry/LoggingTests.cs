using System.Buffers;
using System.Net;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CbuffTcp.Tests.Telemetry;

/// <summary>The stable event ids of docs/telemetry.md, with their levels and structured fields.</summary>
public class LoggingTests
{
    [Fact]
    public async Task Lifecycle_and_connections_are_logged_with_stable_ids_and_fields()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        var handler = new EchoHandler();
        var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { LoggerFactory = factory });
        var port = fixture.EndPoint.Port;
        await using (fixture)
        {
            using var client = await fixture.ConnectAsync();
            await client.SendLengthFrameAsync("hi"u8);
            await client.ReadLengthFrameAsync();
            await fixture.Server.StopAsync(); // before the client leaves: it is closed by the stop
        }

        var records = logs.GetSnapshot();
        var started = Single(records, 1, LogLevel.Information);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port).ToString(), Field(started, "EndPoint"));
        var connected = Single(records, 10, LogLevel.Debug);
        Assert.Equal("1", Field(connected, "ClientId"));
        Assert.StartsWith("127.0.0.1:", Field(connected, "RemoteEndPoint"));
        var disconnected = Single(records, 11, LogLevel.Debug);
        Assert.Equal(nameof(DisconnectReason.ServerStopping), Field(disconnected, "Reason"));
        Single(records, 2, LogLevel.Information);
        Single(records, 3, LogLevel.Information);
        Assert.DoesNotContain(records, r => r.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task A_client_error_is_logged_as_a_warning_and_a_failing_error_handler_as_an_error()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        var handler = new FailingErrorHandler();
        await using var fixture = await ServerFixture<FailingErrorHandler>.StartAsync(handler, new TcpServerOptions { LoggerFactory = factory }, new LengthPrefixedProtocol(maxFrameSize: 16));

        using var client = await fixture.ConnectAsync();
        await client.SendLengthFrameAsync(new byte[17]);
        await handler.WaitForAsync("disconnected");

        var records = logs.GetSnapshot();
        var error = Single(records, 20, LogLevel.Warning);
        Assert.Equal("1", Field(error, "ClientId"));
        Assert.Contains("16", Field(error, "Message"), StringComparison.Ordinal);
        var failed = Single(records, 21, LogLevel.Error);
        Assert.IsType<InvalidOperationException>(failed.Exception);
    }

    [Fact]
    public async Task Refused_connections_are_logged_once_per_streak_and_each_at_debug()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { LoggerFactory = factory, MaxConnections = 1 });

        using var first = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        for (var i = 0; i < 3; i++)
        {
            await WireClient.AssertRefusedAsync(fixture.EndPoint);
        }

        var records = logs.GetSnapshot();
        Single(records, 5, LogLevel.Warning);
        Assert.Equal(3, records.Count(r => r.Id.Id == 12 && r.Level == LogLevel.Debug));
    }

    [Fact]
    public async Task The_client_connector_logs_through_its_own_factory()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler());
        var clientHandler = new RecordingHandler();
        await using var connector = new TcpClient<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), clientHandler, new TcpClientOptions { LoggerFactory = factory });
        await connector.ConnectAsync(fixture.EndPoint);
        await clientHandler.WaitForAsync("connected");

        var connected = Single(logs.GetSnapshot(), 30, LogLevel.Information);
        Assert.EndsWith($":{fixture.EndPoint.Port}", Field(connected, "RemoteEndPoint"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_pack_is_logged_and_the_send_says_so()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { LoggerFactory = factory }, new PackThrowingProtocol());
        using var client = await fixture.ConnectAsync();
        var id = (await handler.WaitForAsync("connected")).ClientId;

        Assert.Equal(SendResult.PackFailed, fixture.Server.SendToClient(id, new ReadOnlySequence<byte>("x"u8.ToArray())));

        var failed = Single(logs.GetSnapshot(), 23, LogLevel.Warning);
        Assert.IsType<NotSupportedException>(failed.Exception);
        Assert.Equal("PackThrowingProtocol", Field(failed, "Protocol"));
        Assert.Equal(nameof(NotSupportedException), Field(failed, "ExceptionType"));
    }

    [Fact]
    public void Every_event_names_its_facts_in_fields_rather_than_one_interpolated_message()
    {
        var templates = typeof(TcpServer<>).Assembly.GetType("CbuffTcp.Telemetry.Log")!
            .GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public)
            .Select(m => (m.Name, Attribute: m.GetCustomAttributes(typeof(LoggerMessageAttribute), false).Cast<LoggerMessageAttribute>().SingleOrDefault()))
            .Where(m => m.Attribute is not null)
            .ToList();

        Assert.NotEmpty(templates);
        Assert.All(templates, t => Assert.False(t.Attribute!.Message.StartsWith("{Message}", StringComparison.Ordinal), $"{t.Name} logs a bare message: {t.Attribute.Message}"));
        Assert.Equal(templates.Count, templates.Select(t => t.Attribute!.EventId).Distinct().Count());
    }

    [Fact]
    public async Task A_refused_connection_is_logged_with_its_limit_and_scope_as_fields()
    {
        var (logs, factory) = CollectingLoggerFactory();
        using var _ = factory;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { LoggerFactory = factory, MaxConnections = 1 });
        using var first = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        await WireClient.AssertRefusedAsync(fixture.EndPoint);

        var refused = Single(logs.GetSnapshot(), 5, LogLevel.Warning);
        Assert.Equal("max_connections", Field(refused, "Limit"));
        Assert.Equal("1", Field(refused, "LimitValue"));
        Assert.Equal("the server", Field(refused, "Scope"));
    }

    /// <summary>Decodes like the length-prefixed protocol; cannot encode.</summary>
    private sealed class PackThrowingProtocol : IProtocol<ReadOnlySequence<byte>>
    {
        private readonly LengthPrefixedProtocol _inner = new();

        public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message) => _inner.TryDepack(ref buffer, out message);

        public void Pack(in ReadOnlySequence<byte> message, System.Buffers.IBufferWriter<byte> output) => throw new NotSupportedException("no packing here");
    }

    private static (FakeLogCollector Logs, ILoggerFactory Factory) CollectingLoggerFactory()
    {
        var provider = new FakeLoggerProvider();
        var factory = LoggerFactory.Create(builder => builder.AddProvider(provider).SetMinimumLevel(LogLevel.Debug));
        return (provider.Collector, factory);
    }

    private static FakeLogRecord Single(IReadOnlyList<FakeLogRecord> records, int eventId, LogLevel level)
    {
        var record = Assert.Single(records, r => r.Id.Id == eventId);
        Assert.Equal(level, record.Level);
        Assert.Equal(CbuffTcpTelemetry.LoggerCategory, record.Category);
        return record;
    }

    private static string? Field(FakeLogRecord record, string name) =>
        record.StructuredState!.Single(pair => pair.Key == name).Value;

    /// <summary>Its OnConnectionError throws: the framework must log that, not swallow it.</summary>
    public sealed class FailingErrorHandler : RecordingHandler
    {
        public override void OnConnectionError(TcpConnection<ReadOnlySequence<byte>> connection, string message, Exception? exception)
        {
            base.OnConnectionError(connection, message, exception);
            throw new InvalidOperationException("the error handler failed on purpose");
        }
    }
}
