using System.Buffers;

namespace CbuffTcp.Protocols;

/// <summary>
/// Every message is exactly <see cref="FrameSize"/> bytes, with no header. Messages are views into the receive buffer.
/// </summary>
public sealed class FixedSizeProtocol : IProtocol<ReadOnlySequence<byte>>
{
    /// <summary>Creates the protocol.</summary>
    /// <param name="frameSize">The size of every message, in bytes; at least 1.</param>
    public FixedSizeProtocol(int frameSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, 1);
        FrameSize = frameSize;
    }

    /// <summary>The size of every message, in bytes.</summary>
    public int FrameSize { get; }

    /// <inheritdoc />
    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        if (buffer.Length < FrameSize)
        {
            message = default;
            return false;
        }

        message = buffer.Slice(0, FrameSize);
        buffer = buffer.Slice(FrameSize);
        return true;
    }

    /// <inheritdoc />
    /// <exception cref="ProtocolException">The message is not exactly <see cref="FrameSize"/> bytes.</exception>
    public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (message.Length != FrameSize)
        {
            throw new ProtocolException($"A fixed-size message must be {FrameSize} bytes; this one is {message.Length}.");
        }

        output.WriteSequence(message);
    }
}
