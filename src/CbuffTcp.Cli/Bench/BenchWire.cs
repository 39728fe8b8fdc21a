using System.Buffers.Binary;
using System.Numerics;

namespace CbuffTcp.Cli.Bench;

/// <summary>
/// The messages <c>cbuff bench</c> sends: each names its sender and sequence number in its first bytes and fills the
/// rest with a byte made of the sender and the message's slot, so every echoed byte can be checked against what was sent.
/// </summary>
/// <remarks>
/// A message's slot is its sequence number modulo <see cref="Slots"/>: a sender keeps one frame per slot and, for each
/// new message, rewrites only the id (<see cref="Renumber"/>), not the whole payload. Filling 64 KiB per message took a
/// tenth of the generator's CPU in <c>bulk</c>.
/// </remarks>
internal sealed class BenchWire(WireProtocol protocol, int size, int slots = 64)
{
    private const string Hex = "0123456789abcdef";

    private readonly int _header = protocol == WireProtocol.Length ? 4 : 0;

    /// <summary>Bytes on the wire per message.</summary>
    public int FrameSize { get; } = FrameSizeFor(protocol, size);

    /// <summary>Frames a sender keeps, one per slot: a power of two, at least the slots asked for.</summary>
    public int Slots { get; } = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(slots, 1));

    /// <summary>Bytes on the wire per message of <paramref name="size"/> bytes.</summary>
    public static int FrameSizeFor(WireProtocol protocol, int size) => size + (protocol == WireProtocol.Length ? 4 : 1);

    /// <summary>
    /// The slots for <paramref name="depth"/> messages in flight: all of them, so a round of sends is one call, and up
    /// to 64 while their frames fit in 1 MiB (each sending connection holds one frame per slot).
    /// </summary>
    public static int SlotsFor(int depth, int frameSize) => Math.Max(depth, Math.Min(64, Math.Max(1, (1 << 20) / frameSize)));

    /// <summary>The slot of message <paramref name="sequence"/>.</summary>
    public int SlotOf(uint sequence) => (int)(sequence & (uint)(Slots - 1));

    /// <summary>Writes message <paramref name="sequence"/> of <paramref name="sender"/> as one frame.</summary>
    public void Write(Span<byte> frame, int sender, uint sequence)
    {
        Span<byte> id = stackalloc byte[16];
        var idPart = Math.Min(WriteId(id, sender, sequence, out var fill), size);
        if (protocol == WireProtocol.Length)
        {
            BinaryPrimitives.WriteInt32BigEndian(frame, size);
        }
        else
        {
            frame[size] = (byte)'\n';
        }

        var payload = frame.Slice(_header, size);
        id[..idPart].CopyTo(payload);
        payload[idPart..].Fill(fill);
    }

    /// <summary>
    /// Turns a frame <see cref="Write"/> made for a message of the same slot into the frame of message
    /// <paramref name="sequence"/>: only the id differs.
    /// </summary>
    public void Renumber(Span<byte> frame, int sender, uint sequence)
    {
        Span<byte> id = stackalloc byte[16];
        var idPart = Math.Min(WriteId(id, sender, sequence, out _), size);
        id[..idPart].CopyTo(frame[_header..]);
    }

    /// <summary>Reads the sender and sequence number a message names (its size must hold the whole id).</summary>
    public (int Sender, uint Sequence) ReadId(ReadOnlySpan<byte> frame)
    {
        var payload = frame[_header..];
        return protocol == WireProtocol.Length
            ? (BinaryPrimitives.ReadInt32BigEndian(payload), BinaryPrimitives.ReadUInt32BigEndian(payload[4..]))
            : ((int)ReadHex(payload), ReadHex(payload[8..]));
    }

    /// <summary>True when <paramref name="frame"/> is exactly the frame <see cref="Write"/> makes for that message (checked in place).</summary>
    public bool IsExactly(ReadOnlySpan<byte> frame, int sender, uint sequence)
    {
        if (frame.Length != FrameSize)
        {
            return false;
        }

        var framingIntact = protocol == WireProtocol.Length
            ? BinaryPrimitives.ReadInt32BigEndian(frame) == size
            : frame[size] == (byte)'\n';
        Span<byte> id = stackalloc byte[16];
        var idPart = Math.Min(WriteId(id, sender, sequence, out var fill), size);
        var payload = frame.Slice(_header, size);
        return framingIntact && payload[..idPart].SequenceEqual(id[..idPart]) && !payload[idPart..].ContainsAnyExcept(fill);
    }

    /// <summary>The id a message starts with (its size returned) and the byte that fills the rest of its payload.</summary>
    private int WriteId(Span<byte> id, int sender, uint sequence, out byte fill)
    {
        if (protocol == WireProtocol.Length)
        {
            BinaryPrimitives.WriteInt32BigEndian(id, sender);
            BinaryPrimitives.WriteUInt32BigEndian(id[4..], sequence);
            fill = (byte)(SlotOf(sequence) ^ sender);
            return 8;
        }

        WriteHex(id, (uint)sender);
        WriteHex(id[8..], sequence);
        fill = (byte)('g' + ((uint)(SlotOf(sequence) + sender) % 20)); // g..z: never a line ending
        return 16;
    }

    private static void WriteHex(Span<byte> destination, uint value)
    {
        for (var i = 7; i >= 0; i--, value >>= 4)
        {
            destination[i] = (byte)Hex[(int)(value & 0xF)];
        }
    }

    private static uint ReadHex(ReadOnlySpan<byte> source)
    {
        uint value = 0;
        for (var i = 0; i < 8; i++)
        {
            var c = source[i];
            value = (value << 4) | (uint)(c <= '9' ? c - '0' : c - 'a' + 10);
        }

        return value;
    }
}
