namespace CbuffTcp;

/// <summary>The names CbuffTcp publishes its telemetry under, for listeners and OpenTelemetry to subscribe to.</summary>
/// <remarks>See docs/telemetry.md for every instrument, span and log event id.</remarks>
public static class CbuffTcpTelemetry
{
    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> name of every server's instruments.</summary>
    public const string MeterName = "CbuffTcp";

    /// <summary>The <see cref="System.Diagnostics.ActivitySource"/> name of CbuffTcp's spans (start, stop, TLS handshakes).</summary>
    public const string ActivitySourceName = "CbuffTcp";

    /// <summary>The logger category of servers and client connectors.</summary>
    public const string LoggerCategory = "CbuffTcp";
}
