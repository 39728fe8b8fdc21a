using System.Diagnostics;

namespace CbuffTcp.Telemetry;

/// <summary>CbuffTcp's spans: a server's start and stop, and TLS handshakes. None per message.</summary>
internal static class Tracing
{
    public static readonly ActivitySource Source = new(CbuffTcpTelemetry.ActivitySourceName);
}
