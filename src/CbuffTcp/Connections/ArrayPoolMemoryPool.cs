using System.Buffers;

namespace CbuffTcp.Connections;

/// <summary>
/// A <see cref="MemoryPool{T}"/> over an <see cref="ArrayPool{T}"/>, so a receive pipe draws from the same pool as
/// the send queue. Only used for a pool other than the shared one: a pipe given no pool rents from
/// <see cref="ArrayPool{T}.Shared"/> directly, without an owner object per segment.
/// </summary>
internal sealed class ArrayPoolMemoryPool(ArrayPool<byte> pool) : MemoryPool<byte>
{
    public override int MaxBufferSize => Array.MaxLength;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Lease(pool, pool.Rent(minBufferSize < 0 ? 4096 : minBufferSize));

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Lease(ArrayPool<byte> pool, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
            {
                pool.Return(returned);
            }
        }
    }
}
