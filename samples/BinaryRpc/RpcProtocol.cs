using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp;

namespace BinaryRpc;

/// <summary>
/// The wire format: a 4-byte big-endian length of what follows, a type byte, a 4-byte big-endian request id, then the
/// body. Stateless, so one instance serves every connection.
/// </summary>
public sealed class RpcProtocol : IProtocol<RpcMessage>
{
    private const int LengthSize = 4;
    private const int HeaderSize = 1 + 4; // type, id

    public RpcProtocol(int maxBodySize = 64 * 1024) => MaxBodySize = maxBodySize;

    public int MaxBodySize { get; }

    // Each message copies its body out of the receive buffer.
    public bool MessagesReferenceInput => false;

    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out RpcMessage message)
    {
        message = default;
        if (buffer.Length < LengthSize)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[LengthSize + HeaderSize];
        var length = ReadLength(buffer);
        if (length < HeaderSize || length > HeaderSize + MaxBodySize)
        {
            // Bad input closes this client with the reason; no resynchronising on a corrupt stream.
            throw length < HeaderSize
                ? new ProtocolException($"frame length {length} is shorter than the {HeaderSize}-byte header")
                : new FrameTooLargeException(length, HeaderSize + MaxBodySize);
        }

        if (buffer.Length < LengthSize + length)
        {
            return false;
        }

        buffer.Slice(0, prefix.Length).CopyTo(prefix);
        var type = (RpcType)prefix[LengthSize];
        if (!Enum.IsDefined(type))
        {
            throw new ProtocolException($"unknown message type 0x{(byte)type:x2}");
        }

        var id = BinaryPrimitives.ReadUInt32BigEndian(prefix[(LengthSize + 1)..]);
        var body = buffer.Slice(LengthSize + HeaderSize, length - HeaderSize).ToArray();
        message = new RpcMessage(type, id, body);
        buffer = buffer.Slice(LengthSize + length);
        return true;
    }

    public void Pack(in RpcMessage message, IBufferWriter<byte> output)
    {
        var size = LengthSize + HeaderSize + message.Body.Length;
        var span = output.GetSpan(size);
        BinaryPrimitives.WriteInt32BigEndian(span, HeaderSize + message.Body.Length);
        span[LengthSize] = (byte)message.Type;
        BinaryPrimitives.WriteUInt32BigEndian(span[(LengthSize + 1)..], message.Id);
        message.Body.Span.CopyTo(span[(LengthSize + HeaderSize)..]);
        output.Advance(size);
    }

    private static int ReadLength(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> length = stackalloc byte[LengthSize];
        buffer.Slice(0, LengthSize).CopyTo(length);
        return BinaryPrimitives.ReadInt32BigEndian(length);
    }
}
