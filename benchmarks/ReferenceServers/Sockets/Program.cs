// Reference server: framed echo (4-byte big-endian length, then the payload) on a plain Socket with
// System.IO.Pipelines, written the way a careful engineer would: one pipe pair per connection, every complete frame
// of a read echoed, one flush per read (Shared/FramedEcho.cs). With a certificate (a PKCS#12 file without a password),
// over SslStream (TLS 1.2 or 1.3, as the client offers). Usage: ref-sockets PORT [CERT.pfx]
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using ReferenceServers;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var certificate = args.Length > 1 ? X509CertificateLoader.LoadPkcs12FromFile(args[1], null) : null;
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(4096);
Console.WriteLine($"listening on 127.0.0.1:{port}");

while (true)
{
    var socket = await listener.AcceptAsync();
    socket.NoDelay = true;
    _ = Task.Run(() => ServeAsync(socket, certificate));
}

static async Task ServeAsync(Socket socket, X509Certificate2? certificate)
{
    Stream stream = new NetworkStream(socket, ownsSocket: true);
    if (certificate is not null)
    {
        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate });
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            await tls.DisposeAsync();
            return;
        }

        stream = tls;
    }

    await using var owned = stream;
    var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024));
    var output = PipeWriter.Create(stream);
    try
    {
        await FramedEcho.RunAsync(input, output);
    }
    catch (IOException)
    {
    }
    finally
    {
        await input.CompleteAsync();
        await output.CompleteAsync();
    }
}
