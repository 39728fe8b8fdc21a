using System.Buffers;
using System.Buffers.Binary;

namespace CbuffTcp.Protocols;

/// <summary>
/// Frames that start with a length header of 1, 2, 4 or 8 bytes, big- or little-endian, then the payload.
/// Messages are the payloads, as views into the receive buffer (see <see cref="MessageBatch{TMessage}"/>).
/// </summary>
/// <remarks>
/// The header is checked before anything is buffered for the frame: a declared length past
/// <see cref="MaxFrameSize"/> fails at once with <see cref="FrameTooLargeException"/>.
/// </remarks>
public sealed class LengthPrefixedProtocol : IProtocol<ReadOnlySequence<byte>>
{
    /// <summary>Creates the protocol.</summary>
    /// <param name="headerSize">Bytes in the length header: 1, 2, 4 or 8. Defaults to 4.</param>
    /// <param name="bigEndian">Byte order of the header: true for network order (big-endian). Defaults to true.</param>
    /// <param name="lengthIncludesHeader">True when the length counts the header's own bytes too. Defaults to false.</param>
    /// <param name="maxFrameSize">The largest payload accepted or packed, in bytes. Defaults to 1 MiB.</param>
    public LengthPrefixedProtocol(int headerSize = 4, bool bigEndian = true, bool lengthIncludesHeader = false, int maxFrameSize = ProtocolDefaults.MaxFrameSize)
    {
        if (headerSize is not (1 or 2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(headerSize), headerSize, "The length header must be 1, 2, 4 or 8 bytes.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxFrameSize);
        HeaderSize = headerSize;
        BigEndian = bigEndian;
        LengthIncludesHeader = lengthIncludesHeader;
        MaxFrameSize = maxFrameSize;

        // The payload a header can describe: e.g. 255 for a 1-byte header, 253 if it counts its own bytes.
        var headerMax = headerSize == 8 ? ulong.MaxValue : (1UL << (headerSize * 8)) - 1;
        var payloadMax = lengthIncludesHeader ? headerMax - (ulong)headerSize : headerMax;
        MaxPackablePayload = (int)Math.Min((ulong)maxFrameSize, payloadMax);
    }

    /// <summary>Bytes in the length header.</summary>
    public int HeaderSize { get; }

    /// <summary>True when the header is big-endian (network order).</summary>
    public bool BigEndian { get; }

    /// <summary>True when the length counts the header's bytes too.</summary>
    public bool LengthIncludesHeader { get; }

    /// <summary>The largest payload accepted or packed, in bytes.</summary>
    public int MaxFrameSize { get; }

    private int MaxPackablePayload { get; }

    /// <inheritdoc />
    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        if (buffer.Length < HeaderSize)
        {
            message = default;
            return false;
        }

        // The header is almost always within the first segment (a connection's receive buffer is one array): read it
        // there; copy it out only when it straddles segments.
        var first = buffer.FirstSpan;
        var payloadLength = first.Length >= HeaderSize ? ReadPayloadLength(first) : ReadStraddlingPayloadLength(buffer);
        if ((ulong)buffer.Length - (ulong)HeaderSize < payloadLength)
        {
            message = default;
            return false;
        }

        var frameEnd = HeaderSize + (long)payloadLength;
        message = buffer.Slice(HeaderSize, (long)payloadLength);
        buffer = buffer.Slice(frameEnd);
        return true;
    }

    /// <inheritdoc />
    public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (message.Length > MaxPackablePayload)
        {
            throw new FrameTooLargeException(message.Length, MaxPackablePayload);
        }

        var length = (ulong)message.Length + (LengthIncludesHeader ? (ulong)HeaderSize : 0);
        // Room for the whole frame at once: a writer that grows on demand then grows once, header included.
        WriteHeader(output.GetSpan((int)Math.Min(HeaderSize + message.Length, Array.MaxLength)), length);
        output.Advance(HeaderSize);
        output.WriteSequence(message);
    }

    private ulong ReadStraddlingPayloadLength(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> header = stackalloc byte[8];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        return ReadPayloadLength(header);
    }

    /// <summary>The payload length the header at the start of <paramref name="header"/> declares, checked against the limit.</summary>
    private ulong ReadPayloadLength(ReadOnlySpan<byte> header)
    {
        var declared = HeaderSize switch
        {
            1 => header[0],
            2 => BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(header) : BinaryPrimitives.ReadUInt16LittleEndian(header),
            4 => BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(header) : BinaryPrimitives.ReadUInt32LittleEndian(header),
            _ => BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(header) : BinaryPrimitives.ReadUInt64LittleEndian(header),
        };

        if (LengthIncludesHeader)
        {
            if (declared < (ulong)HeaderSize)
            {
                throw new ProtocolException($"Length header declares {declared} bytes, less than the {HeaderSize}-byte header it includes.");
            }

            declared -= (ulong)HeaderSize;
        }

        if (declared > (ulong)MaxFrameSize)
        {
            throw new FrameTooLargeException(declared > long.MaxValue ? long.MaxValue : (long)declared, MaxFrameSize);
        }

        return declared;
    }

    private void WriteHeader(Span<byte> destination, ulong length)
    {
        switch (HeaderSize)
        {
            case 1:
                destination[0] = (byte)length;
                break;
            case 2:
                if (BigEndian) BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)length);
                else BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)length);
                break;
            case 4:
                if (BigEndian) BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
                else BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)length);
                break;
            default:
                if (BigEndian) BinaryPrimitives.WriteUInt64BigEndian(destination, length);
                else BinaryPrimitives.WriteUInt64LittleEndian(destination, length);
                break;
        }
    }
}
