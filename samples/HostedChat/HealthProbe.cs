using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// A health endpoint without ASP.NET Core, for a worker service: a TCP port that answers each connection with the
/// health report's status (<c>Healthy</c>, <c>Degraded</c> or <c>Unhealthy</c>) and closes. An orchestrator's exec
/// probe runs <c>nc 127.0.0.1 9001 | grep -qv Unhealthy</c>; <c>Health:Port</c> in configuration moves it (0: a free port).
/// </summary>
internal sealed partial class HealthProbe(HealthCheckService health, IConfiguration configuration, ILogger<HealthProbe> logger) : BackgroundService
{
    [LoggerMessage(LogLevel.Information, "health probe on {EndPoint}")]
    private static partial void Listening(ILogger logger, EndPoint endPoint);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, configuration.GetValue("Health:Port", 9001)));
        listener.Listen(16);
        Listening(logger, listener.LocalEndPoint!);
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket probe;
            try
            {
                probe = await listener.AcceptAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            using (probe)
            {
                var report = await health.CheckHealthAsync(stoppingToken);
                var entries = string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} ({e.Value.Description})"));
                await probe.SendAsync(Encoding.UTF8.GetBytes($"{report.Status}\n{entries}\n"), stoppingToken);
                probe.Shutdown(SocketShutdown.Send);
            }
        }
    }
}
