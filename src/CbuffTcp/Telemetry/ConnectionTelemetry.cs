using Microsoft.Extensions.Logging;

namespace CbuffTcp.Telemetry;

/// <summary>What a connection reports to: its owner's logger, and the server's instruments (none for a client connector).</summary>
internal sealed class ConnectionTelemetry(ILogger logger, ServerMetrics? metrics)
{
    public static ConnectionTelemetry None { get; } = new(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, null);

    public ILogger Logger { get; } = logger;

    public ServerMetrics? Metrics { get; } = metrics;
}
