using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CbuffTcp.Connections;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// A large message packed for one client joins an empty send queue as the pack buffer's own array (no second copy);
/// anything else is copied: a small message, one behind others, a broadcast's shared bytes, or a queue whose buffers
/// come from a pool of the user's own (the pack buffer's array belongs to the shared pool).
/// </summary>
public class SendQueueAdoptionTests
{
    private const int Large = SendQueue.AdoptMinLength;

    [Fact]
    public void A_large_message_into_an_empty_queue_is_sent_from_the_pack_buffers_array()
    {
        var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ArrayPool<byte>.Shared);
        var packed = PackBuffer.Rent();
        ref var packedAt = ref Fill(packed, Large, 1);

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(packed));

        Assert.Equal(0, packed.WrittenSpan.Length); // the array went with the message
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        Assert.True(Unsafe.AreSame(ref packedAt, ref MemoryMarshal.GetArrayDataReference(outgoing.Buffer)), "the queue copied the message");
        AssertPattern(outgoing.Memory.Span, Large, 1);
        queue.Release(outgoing);
        PackBuffer.Return(packed);
    }

    [Fact]
    public void A_large_message_behind_another_is_copied_and_both_go_out_in_order()
    {
        var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ArrayPool<byte>.Shared);
        var first = PackBuffer.Rent();
        Fill(first, Large, 1);
        Assert.Equal(SendResult.Queued, queue.TryEnqueue(first));
        PackBuffer.Return(first);
        var second = PackBuffer.Rent();
        ref var secondAt = ref Fill(second, Large + 1, 2);

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(second));

        Assert.Equal(Large + 1, second.WrittenSpan.Length); // kept: the queue copied it behind the first
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        Assert.False(Unsafe.AreSame(ref secondAt, ref MemoryMarshal.GetArrayDataReference(outgoing.Buffer)));
        AssertPattern(outgoing.Memory.Span[..Large], Large, 1);
        AssertPattern(outgoing.Memory.Span[Large..], Large + 1, 2);
        queue.Release(outgoing);
        PackBuffer.Return(second);
    }

    [Theory]
    [InlineData(Large - 1, false)] // small: copied
    [InlineData(Large, true)] // a pool of the user's own: copied, so every array goes back where it came from
    public void Other_messages_are_copied(int length, bool ownPool)
    {
        var pool = new CountingBufferPool();
        var queue = new SendQueue(1 << 20, 1000, recordMessageLengths: false, ownPool ? pool : ArrayPool<byte>.Shared);
        var packed = PackBuffer.Rent();
        ref var packedAt = ref Fill(packed, length, 3);

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(packed));

        Assert.Equal(length, packed.WrittenSpan.Length);
        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        Assert.False(Unsafe.AreSame(ref packedAt, ref MemoryMarshal.GetArrayDataReference(outgoing.Buffer)));
        AssertPattern(outgoing.Memory.Span, length, 3);
        queue.Release(outgoing);
        PackBuffer.Return(packed);
        pool.AssertAllReturned();
    }

    /// <summary>Packs <paramref name="length"/> bytes of a pattern seeded by <paramref name="seed"/>; returns where they start.</summary>
    private static ref byte Fill(PackBuffer packed, int length, int seed)
    {
        var span = packed.GetSpan(length)[..length];
        for (var i = 0; i < length; i++)
        {
            span[i] = (byte)(i * 7 + seed);
        }

        packed.Advance(length);
        return ref MemoryMarshal.GetReference(packed.WrittenSpan);
    }

    private static void AssertPattern(ReadOnlySpan<byte> bytes, int length, int seed)
    {
        Assert.Equal(length, bytes.Length);
        for (var i = 0; i < length; i++)
        {
            if (bytes[i] != (byte)(i * 7 + seed))
            {
                Assert.Fail($"byte {i} of {length} is {bytes[i]}");
            }
        }
    }
}
