// Reference server: framed echo (4-byte big-endian length, then the payload) on a plain Socket with
// System.IO.Pipelines, written the way a careful engineer would: one pipe pair per connection, every complete frame
// of a read echoed, one flush per read. Usage: ref-sockets PORT
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

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
    catch (IOException)
    {
    }
    finally
    {
        await input.CompleteAsync();
        await output.CompleteAsync();
    }
}

// A whole frame, header included, so the echo is a copy of the bytes.
static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
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
