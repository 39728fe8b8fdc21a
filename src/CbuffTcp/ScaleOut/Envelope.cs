using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace CbuffTcp.ScaleOut;

/// <summary>
/// The bytes nodes exchange. A 26-byte header (version, kind, the protocol's fingerprint, the sender, the sender's
/// sequence number on that channel), then the body: for messages, their packed bytes as the send queue takes them
/// (every length, then the bytes laid end to end), so a receiver queues them without unpacking. Little-endian.
/// </summary>
internal static class Envelope
{
    public const byte Version = 1;
    public const int HeaderSize = 26;

    /// <summary>Writes a header for <paramref name="kind"/> into a rented array sized for <paramref name="bodySize"/> more bytes.</summary>
    public static EnvelopeWriter Begin(EnvelopeKind kind, uint protocolId, long sender, long sequence, int bodySize)
    {
        var writer = new EnvelopeWriter(ArrayPool<byte>.Shared.Rent(HeaderSize + bodySize));
        writer.Byte(Version);
        writer.Byte((byte)kind);
        writer.UInt32(protocolId);
        writer.Int64(sender);
        writer.Int64(sequence);
        return writer;
    }

    public static int MessagesSize(ReadOnlySpan<int> lengths, int packedLength) => 4 + (4 * lengths.Length) + packedLength;

    public static int StringSize(string text) => 2 + Encoding.UTF8.GetByteCount(text);

    /// <summary>A stable fingerprint of the protocol type, so nodes running another protocol refuse each other's bytes.</summary>
    public static uint Fingerprint(Type protocol)
    {
        // FNV-1a over the type's full name: stable across processes (string.GetHashCode is randomised per process).
        var hash = 2166136261u;
        foreach (var c in protocol.FullName ?? protocol.Name)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}

/// <summary>Appends an envelope's fields into a rented array; <see cref="Return"/> gives the array back.</summary>
internal struct EnvelopeWriter(byte[] buffer)
{
    private int _length;

    public readonly ReadOnlySpan<byte> Written => buffer.AsSpan(0, _length);

    public void Byte(byte value) => buffer[_length++] = value;

    public void UInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(_length), value);
        _length += 4;
    }

    public void Int32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(_length), value);
        _length += 4;
    }

    public void Int64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(_length), value);
        _length += 8;
    }

    public void String(string text)
    {
        var count = Encoding.UTF8.GetBytes(text, buffer.AsSpan(_length + 2));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(_length), checked((ushort)count));
        _length += 2 + count;
    }

    public void Messages(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths)
    {
        Int32(lengths.Length);
        foreach (var length in lengths)
        {
            Int32(length);
        }

        packed.CopyTo(buffer.AsSpan(_length));
        _length += packed.Length;
    }

    public readonly void Return() => ArrayPool<byte>.Shared.Return(buffer);
}

/// <summary>Reads an envelope's fields in order; a short or inconsistent envelope throws <see cref="FormatException"/>.</summary>
internal ref struct EnvelopeReader(ReadOnlySpan<byte> envelope)
{
    private readonly ReadOnlySpan<byte> _envelope = envelope;
    private int _position;

    public byte Byte() => Take(1)[0];

    public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public string String() => Encoding.UTF8.GetString(Take(BinaryPrimitives.ReadUInt16LittleEndian(Take(2))));

    /// <summary>Each message's length and the packed bytes, checked against each other.</summary>
    public void Messages(out ReadOnlySpan<int> lengths, out ReadOnlySpan<byte> packed)
    {
        var count = Int32();
        if (count is <= 0 or > 1 << 20)
        {
            throw new FormatException($"an envelope declares {count} messages");
        }

        // The lengths are read in place where the machine is little-endian, as every .NET 10 platform is.
        var bytes = Take(4 * count);
        lengths = BitConverter.IsLittleEndian ? MemoryMarshal.Cast<byte, int>(bytes) : ReadLengths(bytes);
        long total = 0;
        foreach (var length in lengths)
        {
            if (length <= 0)
            {
                throw new FormatException($"an envelope declares a message of {length} bytes");
            }

            total += length;
        }

        if (total != _envelope.Length - _position)
        {
            throw new FormatException($"an envelope's messages declare {total} bytes and it carries {_envelope.Length - _position}");
        }

        packed = Take((int)total);
    }

    private static int[] ReadLengths(ReadOnlySpan<byte> bytes)
    {
        var lengths = new int[bytes.Length / 4];
        for (var i = 0; i < lengths.Length; i++)
        {
            lengths[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(4 * i)..]);
        }

        return lengths;
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _envelope.Length - _position)
        {
            throw new FormatException("an envelope ended early");
        }

        var span = _envelope.Slice(_position, count);
        _position += count;
        return span;
    }
}
