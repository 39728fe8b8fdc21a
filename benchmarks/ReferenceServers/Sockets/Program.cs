// Reference server: framed echo (4-byte big-endian length, then the payload) on a plain Socket with
// System.IO.Pipelines, written the way a careful engineer would: one pipe pair per connection, every complete frame
// of a read echoed, one flush per read (Shared/FramedEcho.cs). Usage: ref-sockets PORT
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using ReferenceServers;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(4096);
Console.WriteLine($"listening on 127.0.0.1:{port}");

while (true)
{
    var socket = await listener.AcceptAsync();
    socket.NoDelay = true;
    _ = Task.Run(() => ServeAsync(socket));
}

static async Task ServeAsync(Socket socket)
{
    await using var stream = new NetworkStream(socket, ownsSocket: true);
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
