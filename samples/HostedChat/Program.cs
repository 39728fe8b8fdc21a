// A line-based chat room on the .NET generic host: options from appsettings.json, logs through ILogger, the server's
// metrics exported every 10 s by OpenTelemetry's console exporter, and its health check answered on a TCP probe port.
// Run: dotnet run --project samples/HostedChat      then, in two terminals: nc 127.0.0.1 9000
//      health: nc 127.0.0.1 9001                      (publishes as Native AOT too: dotnet publish -p:PublishAot=true)
using System.Buffers;
using System.Text;
using CbuffTcp;
using CbuffTcp.Hosting;
using CbuffTcp.Protocols;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

// appsettings.json sits next to the program, wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.AddCbuffTcpServer<ReadOnlySequence<byte>>()
    .UseProtocol(new LineProtocol(maxLineLength: 4096))
    .UseHandler<ChatHandler>()
    .AddHealthCheck(); // healthy while running; degraded near the connection limit; unhealthy when stopped
builder.Services.AddHostedService<HealthProbe>();
builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
    .AddMeter(CbuffTcpTelemetry.MeterName)
    .AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 10_000));

await builder.Build().RunAsync();

/// <summary>Everyone gets what anyone says, prefixed with who said it.</summary>
internal sealed class ChatHandler : TcpHandler<ReadOnlySequence<byte>>
{
    public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
    {
        connection.Send(Line($"welcome, you are #{connection.Id}"));
        connection.Server!.SendToAllClientsExcept(connection.Id, Line($"#{connection.Id} joined"));
        return ValueTask.CompletedTask;
    }

    public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            connection.Server!.SendToAllClientsExcept(connection.Id, Line($"#{connection.Id}: {Encoding.UTF8.GetString(message)}"));
        }

        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDisconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
    {
        connection.Server!.SendToAllClients(Line($"#{connection.Id} left ({reason.Reason})"));
        return ValueTask.CompletedTask;
    }

    private static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));
}
