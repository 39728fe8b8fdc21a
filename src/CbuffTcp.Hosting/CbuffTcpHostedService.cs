using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CbuffTcp.Hosting;

/// <summary>Starts the server with the host; stops it gracefully, aborting what is left when the host's shutdown timeout ends.</summary>
internal sealed class CbuffTcpHostedService<TMessage>(TcpServer<TMessage> server, IOptions<CbuffTcpHostOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var host = options.Value.Host;
        var address = IPAddress.TryParse(host, out var parsed)
            ? parsed
            : (await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false)).FirstOrDefault()
              ?? throw new InvalidOperationException($"CbuffTcp:Host '{host}' resolved to no address.");
        await server.StartAsync(new IPEndPoint(address, options.Value.Port), cancellationToken).ConfigureAwait(false);
    }

    // The host cancels the token when its shutdown timeout ends: StopAsync then resets the clients still open.
    public Task StopAsync(CancellationToken cancellationToken) =>
        server.Status == ServerStatus.Running ? server.StopAsync(cancellationToken) : Task.CompletedTask;
}
