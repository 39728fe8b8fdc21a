using System.Buffers;

namespace CbuffTcp.Protocols;

/// <summary>
/// No framing: each message is the bytes that have arrived (up to <see cref="MaxChunkSize"/> at a time), and
/// <see cref="Pack"/> writes the bytes as they are. Boundaries between messages are wherever TCP put them.
/// Messages are views into the receive buffer.
/// </summary>
public sealed class RawProtocol : IProtocol<ReadOnlySequence<byte>>
{
    /// <summary>Creates the protocol.</summary>
    /// <param name="maxChunkSize">The most bytes delivered as one message. Defaults to 64 KiB.</param>
    public RawProtocol(int maxChunkSize = 64 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChunkSize, 1);
        MaxChunkSize = maxChunkSize;
    }

    /// <summary>The most bytes delivered as one message.</summary>
    public int MaxChunkSize { get; }

    /// <summary>The chunk size: raw bytes never wait for more to form a message.</summary>
    public int MaxFrameSize => MaxChunkSize;

    /// <inheritdoc />
    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        if (buffer.IsEmpty)
        {
            message = default;
            return false;
        }

        var take = Math.Min(buffer.Length, MaxChunkSize);
        message = buffer.Slice(0, take);
        buffer = buffer.Slice(take);
        return true;
    }

    /// <inheritdoc />
    public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.WriteSequence(message);
    }
}
