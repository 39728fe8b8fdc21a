// Reference server: framed echo (4-byte big-endian length, then the payload) on Kestrel used as a raw TCP server
// through a ConnectionHandler (Shared/FramedEcho.cs). Usage: ref-kestrel PORT
using System.Net;
using Microsoft.AspNetCore.Connections;
using ReferenceServers;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseConnectionHandler<EchoConnectionHandler>());
    kestrel.Limits.MaxConcurrentConnections = null;
});
var app = builder.Build();
await app.StartAsync();
Console.WriteLine($"listening on 127.0.0.1:{port}");
await app.WaitForShutdownAsync();

internal sealed class EchoConnectionHandler : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) => FramedEcho.RunAsync(connection.Transport.Input, connection.Transport.Output);
}
