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

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>
    /// Gives the packed bytes' array away (rented from <see cref="ArrayPool{T}.Shared"/>; the taker returns it there), so a
    /// large message can join a send queue without a copy. The buffer starts over empty, with no array.
    /// </summary>
    public byte[] Detach()
    {
        var array = _buffer;
        _buffer = [];
        _written = 0;
        return array;
    }

    /// <summary>Takes this thread's buffer (or a new one when a pack is already under way on it), empty.</summary>
    public static PackBuffer Rent()
    {
        var buffer = t_cached ?? new PackBuffer();
        t_cached = null;
        buffer._written = 0;
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
            t_cached = buffer;
        }
    }

    /// <summary>The array it holds now, for tests: 0 once it went back to the pool.</summary>
    internal int Capacity => _buffer.Length;

    private void ReleaseArray()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
        _written = 0;
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

        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(256, _buffer.Length * 2)));
        _buffer.AsSpan(0, _written).CopyTo(grown);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = grown;
    }
}
