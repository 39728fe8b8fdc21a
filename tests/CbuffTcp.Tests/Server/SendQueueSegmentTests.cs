using System.Buffers;
using System.Runtime.InteropServices;
using CbuffTcp.Connections;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// The send queue's arrays: a large message packed for one client joins the queue as the pack buffer's own array,
/// wherever it lands in the queue (no second copy); anything else is copied: a small message, a broadcast's shared
/// bytes, or anything into a queue whose arrays come from a pool of the user's own. Whatever the mix, the write loop
/// takes exactly the bytes queued, in order, in few arrays, and every array goes back to its pool.
/// </summary>
public class SendQueueSegmentTests
{
    private const int Large = SendQueue.AdoptMinLength;

    [Fact]
    public void Large_messages_are_sent_from_their_pack_buffers_arrays_wherever_they_join_the_queue()
    {
        var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ArrayPool<byte>.Shared);
        var expected = new List<byte>();
        Assert.Equal(SendResult.Queued, EnqueueCopy(queue, Pattern(100, 1)));
        expected.AddRange(Pattern(100, 1));
        var adopted = new List<byte[]>();
        foreach (var (length, seed) in new[] { (Large, 2), (Large + 1, 3) })
        {
            var packed = PackBuffer.Rent();
            adopted.Add(Pack(packed, Pattern(length, seed)));

            Assert.Equal(SendResult.Queued, queue.TryEnqueue(packed));

            Assert.Equal(0, packed.WrittenSpan.Length); // the array went with the message
            PackBuffer.Return(packed);
            expected.AddRange(Pattern(length, seed));
        }

        Assert.Equal(SendResult.Queued, EnqueueCopy(queue, Pattern(10, 4)));
        expected.AddRange(Pattern(10, 4));

        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        var arrays = Enumerable.Range(0, outgoing.Count).Select(i => outgoing.Segments[i].Array).ToList();
        Assert.Contains(arrays, a => ReferenceEquals(a, adopted[0]));
        Assert.Contains(arrays, a => ReferenceEquals(a, adopted[1]));
        Assert.Equal(expected, Concatenated(outgoing));
        Assert.Equal(4, outgoing.Messages);
        queue.Release(outgoing);
    }

    [Theory]
    [InlineData(Large - 1, false)] // small: copied
    [InlineData(Large, true)] // a pool of the user's own: copied, so every array goes back where it came from
    public void Other_messages_are_copied(int length, bool ownPool)
    {
        var pool = new CountingBufferPool();
        var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ownPool ? pool : ArrayPool<byte>.Shared);
        var packed = PackBuffer.Rent();
        var packedArray = Pack(packed, Pattern(length, 3));

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(packed));

        Assert.Equal(length, packed.WrittenSpan.Length);
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        Assert.False(ReferenceEquals(packedArray, outgoing.Segments[0].Array));
        Assert.Equal(Pattern(length, 3), Concatenated(outgoing));
        queue.Release(outgoing);
        PackBuffer.Return(packed);
        pool.AssertAllReturned();
    }

    [Fact]
    public void A_batch_joins_all_or_none_against_both_caps_and_keeps_each_message_length()
    {
        var queue = new SendQueue(1000, 5, recordMessageLengths: true, ArrayPool<byte>.Shared);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(SendResult.Queued, EnqueueCopy(queue, Pattern(100, i)));
        }

        Assert.Equal(SendResult.QueueFull, queue.TryEnqueue(Pattern(30, 7), [10, 10, 10])); // 6 messages > 5
        Assert.Equal(SendResult.QueueFull, queue.TryEnqueue(Pattern(701, 8), [700, 1])); // 1,001 bytes > 1,000
        Assert.Equal(300, queue.QueuedBytes); // nothing of either went in
        Assert.Equal(SendResult.Queued, queue.TryEnqueue(Pattern(30, 9), [10, 20]));

        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        Assert.Equal(5, outgoing.Messages);
        Assert.Equal([100, 100, 100, 10, 20], outgoing.MessageLengths!);
        Assert.Equal(Pattern(100, 0).Concat(Pattern(100, 1)).Concat(Pattern(100, 2)).Concat(Pattern(30, 9)), Concatenated(outgoing));
        queue.Release(outgoing);

        // An empty queue takes a batch past both caps, as it takes a single message past the byte cap.
        Assert.Equal(SendResult.Queued, queue.TryEnqueue(Pattern(1200, 1), [200, 200, 200, 200, 200, 200]));
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out outgoing));
        queue.Release(outgoing);
    }

    [Fact]
    public void A_long_backlog_of_small_messages_goes_out_in_few_arrays()
    {
        var pool = new CountingBufferPool();
        var queue = new SendQueue(1 << 20, 100_000, recordMessageLengths: false, pool);
        var expected = new List<byte>();
        for (var i = 0; i < 10_000; i++)
        {
            var message = Pattern(36, i);
            Assert.Equal(SendResult.Queued, EnqueueCopy(queue, message));
            expected.AddRange(message);
        }

        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));

        // 360,000 bytes: arrays that double from 4 KiB to 64 KiB, so about ten, none of them ever copied into another.
        Assert.InRange(outgoing.Count, 1, 12);
        Assert.Equal(outgoing.Count, pool.Outstanding); // no array was given up for a larger one
        Assert.Equal(expected, Concatenated(outgoing));
        queue.Release(outgoing);
        pool.AssertAllReturned();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Any_mix_of_messages_and_takes_sends_exactly_the_bytes_queued_in_order(bool sharedPool)
    {
        var counting = new CountingBufferPool();
        var random = new Random(sharedPool ? 11 : 12);
        for (var round = 0; round < 200; round++)
        {
            var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: true, sharedPool ? ArrayPool<byte>.Shared : counting);
            var expected = new List<byte>();
            var expectedLengths = new List<int>();
            var sent = new List<byte>();
            var sentLengths = new List<int>();
            for (var step = 0; step < 30; step++)
            {
                if (random.Next(4) == 0)
                {
                    TakeAll(queue, expectedLengths.Count - sentLengths.Count, sent, sentLengths);
                    continue;
                }

                var length = random.Next(3) switch { 0 => random.Next(0, 64), 1 => random.Next(0, 5000), _ => random.Next(Large - 10, 70_000) };
                var message = Pattern(length, random.Next());
                var packed = PackBuffer.Rent();
                try
                {
                    Pack(packed, message);
                    var result = random.Next(3) switch
                    {
                        0 => queue.TryEnqueue(packed),
                        1 => EnqueueCopy(queue, message),
                        _ => EnqueueShared(queue, message, sharedPool ? ConnectionArrayPool.Default : counting), // a broadcast to clients whose sends gather arrays
                    };
                    if (result == SendResult.Queued)
                    {
                        expected.AddRange(message);
                        expectedLengths.Add(length);
                    }
                    else
                    {
                        Assert.Equal(SendResult.QueueFull, result);
                    }
                }
                finally
                {
                    PackBuffer.Return(packed);
                }
            }

            TakeAll(queue, expectedLengths.Count - sentLengths.Count, sent, sentLengths);
            Assert.Equal(expected, sent);
            Assert.Equal(expectedLengths, sentLengths);
            Assert.Equal(0, queue.QueuedBytes);
        }

        counting.AssertAllReturned();
    }

    [Fact]
    public void A_shared_broadcast_is_queued_by_reference_between_copies_and_freed_by_the_last_queue_to_write_it()
    {
        var budget = new MemoryBudget(1 << 20);
        var queues = Enumerable.Range(0, 3).Select(_ => new SendQueue(1 << 20, 1000, recordMessageLengths: true, ArrayPool<byte>.Shared)).ToArray();
        var bytes = Pattern(2000, 5);
        Assert.Equal(SendResult.Queued, EnqueueCopy(queues[0], Pattern(10, 1))); // a copy before it, in the first queue only
        var shared = SharedSendBytes.Create(bytes, ConnectionArrayPool.Default, budget)!;
        var reserved = budget.Used;
        foreach (var queue in queues)
        {
            Assert.Equal(SendResult.Queued, queue.TryEnqueue(shared, [1000, 1000]));
            Assert.Equal(SendResult.Queued, EnqueueCopy(queue, Pattern(10, 2))); // a copy after it: into an array of its own
        }

        shared.Release(); // the broadcast's own reference
        Assert.Equal(bytes, shared.Array.AsSpan(0, shared.Length).ToArray()); // no copy was written into the shared array

        var takes = queues.Select(Take).ToArray();
        Assert.All(takes, take => Assert.Contains(Enumerable.Range(0, take.Count), i => ReferenceEquals(take.Segments[i].Array, shared.Array)));
        Assert.Equal(Pattern(10, 1).Concat(bytes).Concat(Pattern(10, 2)), Concatenated(takes[0]));
        Assert.Equal([10, 1000, 1000, 10], takes[0].MessageLengths!);
        Assert.Equal(bytes.Concat(Pattern(10, 2)), Concatenated(takes[2]));

        Assert.True(reserved >= bytes.Length); // its array is reserved once, not once per queue
        queues[0].Release(takes[0]);
        queues[1].Release(takes[1]);
        Assert.Equal(reserved, budget.Used); // the third queue still writes from it
        queues[2].Release(takes[2]);
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void A_queue_that_refuses_or_discards_shared_bytes_holds_no_reference_to_them()
    {
        var budget = new MemoryBudget(1 << 20);
        var full = new SendQueue(1000, 1000, recordMessageLengths: false, ArrayPool<byte>.Shared);
        var discarding = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ArrayPool<byte>.Shared);
        Assert.Equal(SendResult.Queued, EnqueueCopy(full, Pattern(500, 1)));
        var shared = SharedSendBytes.Create(Pattern(2000, 3), ConnectionArrayPool.Default, budget)!;

        Assert.Equal(SendResult.QueueFull, full.TryEnqueue(shared, [2000])); // 2,500 bytes > 1,000
        Assert.Equal(SendResult.Queued, discarding.TryEnqueue(shared, [2000]));
        Assert.Equal(1, discarding.CompleteAndDiscard());
        Assert.NotEqual(0, budget.Used); // the broadcast still holds it
        shared.Release();

        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void Shared_bytes_the_memory_budget_has_no_room_for_are_not_made()
    {
        var budget = new MemoryBudget(4096);
        Assert.True(budget.TryReserve(1));

        Assert.Null(SharedSendBytes.Create(Pattern(2000, 1), ConnectionArrayPool.Default, budget)); // a 4 KiB array does not fit beside that byte
        Assert.Equal(1, budget.Used);
    }

    /// <summary>What the write loop does with <paramref name="queued"/> messages waiting (it only takes when woken for some).</summary>
    private static void TakeAll(SendQueue queue, int queued, List<byte> sent, List<int> sentLengths)
    {
        if (queued == 0)
        {
            return;
        }

        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));

        var bytes = Concatenated(outgoing);
        Assert.Equal(outgoing.Length, bytes.Length);
        Assert.Equal(outgoing.Messages, outgoing.MessageLengths!.Count);
        sent.AddRange(bytes);
        sentLengths.AddRange(outgoing.MessageLengths);
        queue.Release(outgoing);
    }

    private static OutgoingBytes Take(SendQueue queue)
    {
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        return outgoing;
    }

    /// <summary>Queues a copy of one message, as a broadcast to one client does.</summary>
    private static SendResult EnqueueCopy(SendQueue queue, byte[] message) => queue.TryEnqueue(message, [message.Length]);

    /// <summary>Queues one message by reference, as a broadcast of it does to every client whose sends gather arrays.</summary>
    private static SendResult EnqueueShared(SendQueue queue, byte[] message, ArrayPool<byte> pool)
    {
        var shared = SharedSendBytes.Create(message, pool, budget: null)!;
        try
        {
            return queue.TryEnqueue(shared, [message.Length]);
        }
        finally
        {
            shared.Release();
        }
    }

    private static byte[] Concatenated(in OutgoingBytes outgoing)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < outgoing.Count; i++)
        {
            bytes.AddRange(outgoing.Segments[i].Memory.ToArray());
        }

        return [.. bytes];
    }

    /// <summary>Writes <paramref name="message"/> into <paramref name="packed"/> as a protocol's <c>Pack</c> would; returns the array it is in.</summary>
    private static byte[] Pack(PackBuffer packed, byte[] message)
    {
        var memory = packed.GetMemory(Math.Max(message.Length, 1));
        message.CopyTo(memory);
        packed.Advance(message.Length);
        return MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not an array");
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 7) + seed);
        }

        return bytes;
    }
}
