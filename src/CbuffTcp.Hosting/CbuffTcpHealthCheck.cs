using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CbuffTcp.Hosting;

/// <summary>
/// The hosted server's health: healthy while it runs with room for clients and, in a cluster, its backplane
/// connected; degraded near its connection limit or while the backplane is unavailable (it still serves its own
/// clients); unhealthy when it is not running (starting, stopping, stopped).
/// </summary>
internal sealed class CbuffTcpHealthCheck<TMessage>(TcpServer<TMessage> server, double degradedAtConnectionRatio) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var clients = server.ClientCount;
        var limit = server.ConnectionLimit;
        var data = new Dictionary<string, object>
        {
            ["status"] = server.Status.ToString(),
            ["clients"] = clients,
            ["connection_limit"] = limit,
        };
        if (server.Cluster is { } cluster)
        {
            data["cluster_connected"] = cluster.IsConnected;
            data["node_id"] = cluster.NodeId;
        }

        var status = context.Registration.FailureStatus;
        HealthCheckResult result;
        if (server.Status != ServerStatus.Running)
        {
            result = new HealthCheckResult(status, $"The server is {server.Status}, not running.", data: data);
        }
        else if (server.Cluster is { IsConnected: false })
        {
            result = HealthCheckResult.Degraded("The backplane is unavailable: local clients are served, the rest of the cluster is not reached.", data: data);
        }
        else if (limit > 0 && clients >= degradedAtConnectionRatio * limit)
        {
            result = HealthCheckResult.Degraded($"{clients} of {limit} connections in use.", data: data);
        }
        else
        {
            result = HealthCheckResult.Healthy($"Running: {clients} of {limit} connections.", data);
        }

        return Task.FromResult(result);
    }
}
