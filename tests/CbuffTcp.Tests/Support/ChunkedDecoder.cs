using System.Buffers;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// Feeds a byte stream to a protocol in random chunks, the way the decode loop sees it: each arrival appends a
/// chunk as its own segment, the protocol decodes what it can from everything unconsumed (a multi-segment
/// sequence), and the rest waits for the next chunk.
/// </summary>
public static class ChunkedDecoder
{
    /// <param name="onMessage">Also sees each message as it is decoded, so a caller can tell what came before an error.</param>
    public static List<byte[]> Decode(IProtocol<ReadOnlySequence<byte>> protocol, byte[] stream, Random random, out long leftover, Action<byte[]>? onMessage = null)
    {
        var messages = new List<byte[]>();
        var chunks = new List<ReadOnlyMemory<byte>>();
        var offset = 0;
        while (offset < stream.Length)
        {
            var size = Math.Min(stream.Length - offset, random.Next(4) switch { 0 => 1, 1 => random.Next(1, 8), 2 => random.Next(1, 64), _ => random.Next(1, 2048) });
            chunks.Add(stream.AsMemory(offset, size));
            offset += size;

            var buffer = Segments.Of(chunks);
            while (protocol.TryDepack(ref buffer, out var message))
            {
                var copy = message.ToArray();
                messages.Add(copy);
                onMessage?.Invoke(copy);
            }

            // Keep only the unconsumed bytes, still split as they arrived.
            chunks = Segments.Split(buffer);
        }

        leftover = chunks.Sum(c => (long)c.Length);
        return messages;
    }
}

/// <summary>Builds multi-segment sequences.</summary>
public static class Segments
{
    public static ReadOnlySequence<byte> Of(IReadOnlyList<ReadOnlyMemory<byte>> chunks)
    {
        var nonEmpty = chunks.Where(c => !c.IsEmpty).ToList();
        if (nonEmpty.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(nonEmpty[0], 0);
        var last = first;
        foreach (var chunk in nonEmpty.Skip(1))
        {
            last = last.Append(chunk);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static List<ReadOnlyMemory<byte>> Split(ReadOnlySequence<byte> sequence)
    {
        var list = new List<ReadOnlyMemory<byte>>();
        foreach (var memory in sequence)
        {
            list.Add(memory);
        }

        return list;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
