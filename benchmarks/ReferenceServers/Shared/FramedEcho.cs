using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace ReferenceServers;

/// <summary>
/// The framed echo both Pipelines-based reference servers run: every complete frame of a read (4-byte big-endian
/// length, then the payload) is written back as it came, with one flush per read.
/// </summary>
internal static class FramedEcho
{
    public static async Task RunAsync(PipeReader input, PipeWriter output)
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
                return;
            }
        }
    }

    // A whole frame, header included, so the echo is a copy of the bytes.
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
