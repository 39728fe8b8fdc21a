// Reference server: framed echo (4-byte big-endian length, then the payload) on Kestrel used as a raw TCP server
// through a ConnectionHandler. Usage: ref-kestrel PORT
using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Microsoft.AspNetCore.Connections;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseConnectionHandler<FramedEcho>());
    kestrel.Limits.MaxConcurrentConnections = null;
});
var app = builder.Build();
await app.StartAsync();
Console.WriteLine($"listening on 127.0.0.1:{port}");
await app.WaitForShutdownAsync();

internal sealed class FramedEcho : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            var echoed = false;
            while (TryReadFrame(ref buffer, out var frame))
            {
                foreach (var segment in frame)
                {
                    output.Write(segment.Span);
                }

                echoed = true;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (echoed)
            {
                await output.FlushAsync();
            }

            if (result.IsCompleted)
            {
                break;
            }
        }
    }

    private static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        var length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length < 0 || buffer.Length < 4L + length)
        {
            return false;
        }

        frame = buffer.Slice(0, 4 + length);
        buffer = buffer.Slice(frame.End);
        return true;
    }
}
