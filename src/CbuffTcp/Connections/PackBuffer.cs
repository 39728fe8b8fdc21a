using System.Buffers;

namespace CbuffTcp.Connections;

/// <summary>
/// Where a send packs its message before the bytes are copied into a client's queue. One per thread, reused, so
/// packing allocates nothing; the protocol's <c>Pack</c> runs here, outside any lock.
/// </summary>
internal sealed class PackBuffer : IBufferWriter<byte>
{
    // Above this, the array goes back to the pool after each use rather than staying with the thread.
    private const int RetainedCapacity = 64 * 1024;

    [ThreadStatic]
    private static PackBuffer? t_cached;

    private byte[] _buffer = [];
    private int _written;
    private MemoryBudget? _budget;
    private int _reserved;

    /// <summary>What the server's memory budget reserved for the array held now: arrays past the retained size are reserved before they are rented.</summary>
    public int Reserved => _reserved;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>
    /// Gives the packed bytes' array away (rented from <see cref="ConnectionArrayPool.Default"/>; the taker returns it there), so a
    /// large message can join a send queue without a copy, with what the budget reserved for it (<see cref="Reserved"/>,
    /// the taker's to release). The buffer starts over empty, with no array.
    /// </summary>
    public byte[] Detach()
    {
        var array = _buffer;
        _buffer = [];
        _written = 0;
        _reserved = 0;
        return array;
    }

    /// <summary>
    /// Takes this thread's buffer (or a new one when a pack is already under way on it), empty. With a
    /// <paramref name="budget"/>, growing past the retained size reserves from it first, and a refusal throws
    /// <see cref="MemoryBudgetRefusedException"/> out of the protocol's <c>Pack</c>.
    /// </summary>
    public static PackBuffer Rent(MemoryBudget? budget = null)
    {
        var buffer = t_cached ?? new PackBuffer();
        t_cached = null;
        buffer._written = 0;
        buffer._budget = budget;
        return buffer;
    }

    /// <summary>
    /// Gives the buffer back to this thread. When a nested pack (a <c>Pack</c> that sends) has already given one back,
    /// the thread keeps that one and this one's array goes back to the pool: caching it over the other would drop a
    /// pooled array.
    /// </summary>
    public static void Return(PackBuffer buffer)
    {
        var keep = t_cached is null;
        if (!keep || buffer._buffer.Length > RetainedCapacity)
        {
            buffer.ReleaseArray();
        }

        if (keep)
        {
            buffer._budget = null; // it holds no reserved array now: the next sender brings its own budget
            t_cached = buffer;
        }
    }

    /// <summary>The array it holds now, for tests: 0 once it went back to the pool.</summary>
    internal int Capacity => _buffer.Length;

    private void ReleaseArray()
    {
        ReturnArray();
        _buffer = [];
        _written = 0;
    }

    private void ReturnArray()
    {
        if (_buffer.Length > 0)
        {
            ConnectionArrayPool.Default.Return(_buffer);
        }

        if (_reserved > 0)
        {
            _budget!.Release(_reserved);
            _reserved = 0;
        }
    }

    /// <summary>Drops what was written past the first <paramref name="length"/> bytes (a <c>Pack</c> that threw midway).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)_written, nameof(length));
        _written = length;
    }

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length)
        {
            return;
        }

        var length = Math.Max(needed, Math.Max(256, _buffer.Length * 2));
        var reserve = MemoryBudget.PooledLength(length) is var pooled && pooled > RetainedCapacity && _budget is not null ? pooled : 0;
        if (reserve > 0 && !_budget!.TryReserve(reserve))
        {
            throw new MemoryBudgetRefusedException(reserve); // nothing changed: what was packed so far stays
        }

        var grown = ConnectionArrayPool.Default.Rent(length); // the send queues' pool: a queue that adopts this array gives it back there
        _buffer.AsSpan(0, _written).CopyTo(grown);
        ReturnArray();
        _buffer = grown;
        _reserved = reserve;
    }
}

/// <summary>
/// Thrown out of a protocol's <c>Pack</c> when the pack buffer cannot grow within the server's memory budget; the send
/// returns <see cref="SendResult.QueueFull"/> (a protocol should let it pass).
/// </summary>
internal sealed class MemoryBudgetRefusedException(int bytes)
    : Exception($"The server's memory budget refused the {bytes} bytes this message needs to be packed.")
{
}
