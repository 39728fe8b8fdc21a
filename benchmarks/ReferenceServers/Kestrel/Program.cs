// Reference server: framed echo (4-byte big-endian length, then the payload) on Kestrel used as a raw TCP server
// through a ConnectionHandler (Shared/FramedEcho.cs). With a certificate (a PKCS#12 file without a password), behind
// Kestrel's TLS connection middleware (UseHttps). Usage: ref-kestrel PORT [CERT.pfx]
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using ReferenceServers;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var certificate = args.Length > 1 ? X509CertificateLoader.LoadPkcs12FromFile(args[1], null) : null;
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, port, listen =>
    {
        if (certificate is not null)
        {
            listen.UseHttps(certificate);
        }

        listen.UseConnectionHandler<EchoConnectionHandler>();
    });
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
