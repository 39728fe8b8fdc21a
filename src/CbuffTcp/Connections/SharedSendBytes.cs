using System.Buffers;
using System.Collections.Concurrent;

namespace CbuffTcp.Connections;

/// <summary>
/// A broadcast's packed bytes, copied once and queued by reference for every client it goes to: the array goes back
/// to its pool, and its reservation to the server's memory budget, when the last client's write loop has written it.
/// </summary>
/// <remarks>
/// Copying a received batch into each of a thousand queues cost a copy into a cold array per client, which the kernel
/// then copied again from cold memory; one array read by every send stays in cache. Holders are pooled (a broadcast
/// allocates nothing); a reference count says when the bytes are free.
/// </remarks>
internal sealed class SharedSendBytes
{
    /// <summary>Broadcasts at least this large are shared; smaller ones are cheaper to copy into each queue's last array.</summary>
    public const int MinLength = 1024;

    private const int MaxPooledHolders = 1024;

    private static readonly ConcurrentQueue<SharedSendBytes> s_holders = new();
    private static int s_pooledHolders;

    private byte[] _array = [];
    private ArrayPool<byte> _pool = ConnectionArrayPool.Default;
    private int _length;
    private int _reserved;
    private MemoryBudget? _budget;
    private int _references;

    public byte[] Array => _array;

    public int Length => _length;

    /// <summary>
    /// A copy of <paramref name="bytes"/> in an array of <paramref name="pool"/>, held once by the caller (who ends with
    /// <see cref="Release"/>), or null when <paramref name="budget"/> has no room for it: each queue then takes a copy as it can.
    /// </summary>
    public static SharedSendBytes? Create(ReadOnlySpan<byte> bytes, ArrayPool<byte> pool, MemoryBudget? budget)
    {
        var reserved = 0;
        if (budget is not null)
        {
            reserved = MemoryBudget.PooledLength(Math.Max(bytes.Length, ConnectionArrayPool.MinLength));
            if (!budget.TryReserve(reserved))
            {
                return null;
            }
        }

        var shared = TakeHolder();
        shared._array = pool.Rent(bytes.Length);
        shared._pool = pool;
        shared._length = bytes.Length;
        shared._budget = budget;
        shared._reserved = reserved;
        shared._references = 1;
        bytes.CopyTo(shared._array);
        return shared;
    }

    /// <summary>One more queue holds these bytes. Only while the caller holds them too.</summary>
    public void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>A holder is done with the bytes; the last one gives the array, the reservation and the holder back.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0)
        {
            return;
        }

        _pool.Return(_array);
        _budget?.Release(_reserved);
        _array = [];
        _pool = ConnectionArrayPool.Default;
        _budget = null;
        if (Interlocked.Increment(ref s_pooledHolders) <= MaxPooledHolders)
        {
            s_holders.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref s_pooledHolders);
        }
    }

    private static SharedSendBytes TakeHolder()
    {
        if (s_holders.TryDequeue(out var holder))
        {
            Interlocked.Decrement(ref s_pooledHolders);
            return holder;
        }

        return new SharedSendBytes();
    }
}
