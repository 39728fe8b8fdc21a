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
internal sealed class BenchWire(WireProtocol protocol, int size, int depth = 1)
{
    private const string Hex = "0123456789abcdef";

    private readonly int _header = protocol == WireProtocol.Length ? 4 : 0;

    // The id's bytes that fit in the payload (a smaller message carries part of it).
    private readonly int _idPart = Math.Min(protocol == WireProtocol.Length ? 8 : 16, size);

    /// <summary>Bytes on the wire per message.</summary>
    public int FrameSize { get; } = FrameSizeOf(protocol, size);

    /// <summary>
    /// Frames a sender keeps, one per slot, a power of two: one per message in flight, so a round of sends is one
    /// call, and up to 64 while they fit in 1 MiB.
    /// </summary>
    public int Slots { get; } = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(depth, Math.Min(64, Math.Max(1, (1 << 20) / FrameSizeOf(protocol, size)))));

    /// <summary>The slot of message <paramref name="sequence"/>.</summary>
    public int SlotOf(uint sequence) => (int)(sequence & (uint)(Slots - 1));

    /// <summary>Writes message <paramref name="sequence"/> of <paramref name="sender"/> as one frame.</summary>
    public void Write(Span<byte> frame, int sender, uint sequence)
    {
        if (protocol == WireProtocol.Length)
        {
            BinaryPrimitives.WriteInt32BigEndian(frame, size);
        }
        else
        {
            frame[size] = (byte)'\n';
        }

        frame.Slice(_header + _idPart, size - _idPart).Fill(FillOf(sender, sequence));
        Renumber(frame, sender, sequence);
    }

    /// <summary>
    /// Turns a frame <see cref="Write"/> made for a message of the same slot into the frame of message
    /// <paramref name="sequence"/>: only the id differs.
    /// </summary>
    public void Renumber(Span<byte> frame, int sender, uint sequence)
    {
        Span<byte> id = stackalloc byte[16];
        WriteId(id, sender, sequence);
        id[.._idPart].CopyTo(frame[_header..]);
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
        WriteId(id, sender, sequence);
        var payload = frame.Slice(_header, size);
        return framingIntact && payload[.._idPart].SequenceEqual(id[.._idPart]) && !payload[_idPart..].ContainsAnyExcept(FillOf(sender, sequence));
    }

    /// <summary>The id a message starts with: sender and sequence, 8 bytes binary or 16 hex digits.</summary>
    private void WriteId(Span<byte> id, int sender, uint sequence)
    {
        if (protocol == WireProtocol.Length)
        {
            BinaryPrimitives.WriteInt32BigEndian(id, sender);
            BinaryPrimitives.WriteUInt32BigEndian(id[4..], sequence);
            return;
        }

        WriteHex(id, (uint)sender);
        WriteHex(id[8..], sequence);
    }

    /// <summary>The byte that fills a message's payload after its id: the same for every message of a slot.</summary>
    private byte FillOf(int sender, uint sequence) => protocol == WireProtocol.Length
        ? (byte)(SlotOf(sequence) ^ sender)
        : (byte)('g' + ((uint)(SlotOf(sequence) + sender) % 20)); // g..z: never a line ending

    private static int FrameSizeOf(WireProtocol protocol, int size) => size + (protocol == WireProtocol.Length ? 4 : 1);

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
