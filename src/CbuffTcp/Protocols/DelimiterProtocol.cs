using System.Buffers;

namespace CbuffTcp.Protocols;

/// <summary>
/// Messages separated by a delimiter of one or more bytes. A message is the bytes before the delimiter (without it),
/// as a view into the receive buffer. <see cref="Pack"/> writes the message, then the delimiter.
/// For text lines ending in <c>\n</c> (with <c>\r\n</c> accepted), use <see cref="LineProtocol"/>.
/// </summary>
public sealed class DelimiterProtocol : IProtocol<ReadOnlySequence<byte>>
{
    private readonly byte[] _delimiter;

    /// <summary>Creates the protocol.</summary>
    /// <param name="delimiter">The bytes that end every message; at least one byte.</param>
    /// <param name="maxFrameSize">The longest message accepted, delimiter excluded. Defaults to 1 MiB.</param>
    /// <param name="trimCarriageReturn">
    /// True to drop one <c>\r</c> right before the delimiter, so <c>\r\n</c> is accepted where the delimiter is <c>\n</c>.
    /// Defaults to false.
    /// </param>
    public DelimiterProtocol(ReadOnlySpan<byte> delimiter, int maxFrameSize = ProtocolDefaults.MaxFrameSize, bool trimCarriageReturn = false)
    {
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter needs at least one byte.", nameof(delimiter));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxFrameSize);
        _delimiter = delimiter.ToArray();
        MaxFrameSize = maxFrameSize;
        TrimCarriageReturn = trimCarriageReturn;
    }

    /// <summary>The delimiter bytes.</summary>
    public ReadOnlyMemory<byte> Delimiter => _delimiter;

    /// <summary>The longest message accepted, delimiter excluded.</summary>
    public int MaxFrameSize { get; }

    /// <summary>True when a <c>\r</c> right before the delimiter is dropped.</summary>
    public bool TrimCarriageReturn { get; }

    /// <inheritdoc />
    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        var reader = new SequenceReader<byte>(buffer);
        var found = _delimiter.Length == 1
            ? reader.TryReadTo(out message, _delimiter[0], advancePastDelimiter: true)
            : reader.TryReadTo(out message, _delimiter, advancePastDelimiter: true);

        if (!found)
        {
            // Without a delimiter yet, the frame can still be valid only while its bytes fit the limit
            // (allowing a delimiter whose first bytes may already be here).
            var limit = (long)MaxFrameSize + _delimiter.Length - 1 + (TrimCarriageReturn ? 1 : 0);
            if (buffer.Length > limit)
            {
                throw new FrameTooLargeException(buffer.Length, MaxFrameSize);
            }

            message = default;
            return false;
        }

        if (TrimCarriageReturn && EndsWithCarriageReturn(message))
        {
            message = message.Slice(0, message.Length - 1);
        }

        if (message.Length > MaxFrameSize)
        {
            throw new FrameTooLargeException(message.Length, MaxFrameSize);
        }

        buffer = buffer.Slice(reader.Position);
        return true;
    }

    /// <inheritdoc />
    public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (message.Length > MaxFrameSize)
        {
            throw new FrameTooLargeException(message.Length, MaxFrameSize);
        }

        output.WriteSequence(message, bytesAfter: _delimiter.Length);
        output.Write(_delimiter);
    }

    private static bool EndsWithCarriageReturn(in ReadOnlySequence<byte> message) =>
        !message.IsEmpty && message.Slice(message.Length - 1).FirstSpan[0] == (byte)'\r';
}
