namespace CbuffTcp.Connections;

/// <summary>
/// The bytes one write-loop pass took: the first <see cref="Count"/> of <see cref="Segments"/>, in order,
/// <see cref="Length"/> bytes in all, holding <see cref="Messages"/> messages (each within one segment).
/// </summary>
internal readonly record struct OutgoingBytes(SendSegment[] Segments, int Count, int Length, int Messages, List<int>? MessageLengths);

/// <summary>
/// One pooled array of a send queue, how many of its bytes are queued (from its start), and what the server's memory
/// budget reserved for it; or a broadcast's bytes that other queues hold too (<see cref="Shared"/>: released, not returned).
/// </summary>
internal struct SendSegment(byte[] array, int length, int reserved = 0, SharedSendBytes? shared = null)
{
    public byte[] Array = array;
    public int Length = length;
    public int Reserved = reserved;
    public SharedSendBytes? Shared = shared;

    public readonly ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);
}
