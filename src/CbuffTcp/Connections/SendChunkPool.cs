using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections;

/// <summary>
/// The send queues' arrays of 4 to 64 KiB, kept between uses for every server and client of the process, up to
/// <see cref="MaxRetainedBytesPerLength"/> of each length. Other lengths go to and come from
/// <see cref="ArrayPool{T}.Shared"/>, so an array rented from either can be returned here.
/// </summary>
/// <remarks>
/// A broadcast to a thousand idle clients rents a thousand arrays at once, and their write loops give them back a
/// moment later. <see cref="ArrayPool{T}.Shared"/> keeps 32 arrays of a length per core: the rest became garbage at
/// every broadcast, and zeroing fresh memory (and its page faults) took a sixth of the server's CPU in the fanout
/// benchmark (docs/profiles.md). This pool keeps what bursts need and lets go, after each full (gen 2) collection, of
/// the arrays the interval since the one before never needed, so a process that went quiet does not hold them long.
/// Lock-free: a queue per length. The default instance also keeps one array per length with each thread, for the
/// rent-and-return on one thread of every echo, as the runtime's pool does.
/// </remarks>
internal sealed class SendChunkPool : ArrayPool<byte>
{
    public const int MinLength = 4 * 1024;
    public const int MaxLength = 64 * 1024;

    /// <summary>At most this many bytes of arrays of one length wait here (so at most 80 MiB in all, for a burst that used that many).</summary>
    public const int MaxRetainedBytesPerLength = 16 * 1024 * 1024;

    private static readonly int LengthCount = BitOperations.Log2(MaxLength / MinLength) + 1; // 4, 8, 16, 32, 64 KiB

    public static readonly SendChunkPool Default = new(keepsOnePerThread: true, trimsAfterFullCollections: true);

    [ThreadStatic]
    private static byte[]?[]? t_perThread;

    private readonly Bucket[] _buckets;
    private readonly bool _keepsOnePerThread;

    internal SendChunkPool(int maxRetainedBytesPerLength = MaxRetainedBytesPerLength, bool keepsOnePerThread = false, bool trimsAfterFullCollections = false)
    {
        _buckets = new Bucket[LengthCount];
        for (var i = 0; i < LengthCount; i++)
        {
            var length = MinLength << i;
            _buckets[i] = new Bucket(length, Math.Max(1, maxRetainedBytesPerLength / length));
        }

        _keepsOnePerThread = keepsOnePerThread;
        if (trimsAfterFullCollections)
        {
            _ = new TrimAfterFullCollections(this);
        }
    }

    /// <summary>Where send queues with <paramref name="configured"/> as their buffer pool get their arrays: here for the runtime's shared pool, else that pool (tests count rentals through one).</summary>
    public static ArrayPool<byte> For(ArrayPool<byte> configured) => ReferenceEquals(configured, ArrayPool<byte>.Shared) ? Default : configured;

    /// <summary>Arrays waiting here now, of every length (the ones kept with threads not counted).</summary>
    internal int Retained => _buckets.Sum(b => Volatile.Read(ref b.Count));

    public override byte[] Rent(int minimumLength)
    {
        var index = IndexFor(minimumLength);
        if (index < 0)
        {
            return ArrayPool<byte>.Shared.Rent(minimumLength);
        }

        if (_keepsOnePerThread && t_perThread?[index] is { } kept)
        {
            t_perThread[index] = null;
            return kept;
        }

        var bucket = _buckets[index];
        if (bucket.Arrays.TryDequeue(out var array))
        {
            var left = Interlocked.Decrement(ref bucket.Count);
            if (left < bucket.LowWater)
            {
                bucket.LowWater = left; // a race may lose an update: trimming keeps a few arrays more, or fewer, once
            }

            return array;
        }

        bucket.LowWater = 0;
        return GC.AllocateUninitializedArray<byte>(bucket.Length);
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        var index = IndexOf(array.Length);
        if (index < 0)
        {
            ArrayPool<byte>.Shared.Return(array, clearArray);
            return;
        }

        if (clearArray)
        {
            Array.Clear(array);
        }

        if (_keepsOnePerThread)
        {
            var perThread = t_perThread ??= new byte[]?[LengthCount];
            if (perThread[index] is null)
            {
                perThread[index] = array;
                return;
            }
        }

        var bucket = _buckets[index];
        if (Interlocked.Increment(ref bucket.Count) > bucket.Capacity)
        {
            Interlocked.Decrement(ref bucket.Count); // full: this one is the GC's
            return;
        }

        bucket.Arrays.Enqueue(array);
    }

    /// <summary>Lets go of as many arrays of each length as were never rented since the last trim (the fewest held meanwhile).</summary>
    internal void Trim()
    {
        foreach (var bucket in _buckets)
        {
            for (var unused = bucket.LowWater; unused > 0 && bucket.Arrays.TryDequeue(out _); unused--)
            {
                Interlocked.Decrement(ref bucket.Count);
            }

            bucket.LowWater = Volatile.Read(ref bucket.Count);
        }
    }

    /// <summary>The bucket whose arrays fit <paramref name="minimumLength"/>; -1 past the largest.</summary>
    private static int IndexFor(int minimumLength) =>
        minimumLength > MaxLength ? -1 : BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, MinLength)) / MinLength);

    /// <summary>The bucket of arrays exactly <paramref name="length"/> long; -1 for other lengths.</summary>
    private static int IndexOf(int length) =>
        length is >= MinLength and <= MaxLength && BitOperations.IsPow2(length) ? BitOperations.Log2((uint)(length / MinLength)) : -1;


    private sealed class Bucket(int length, int capacity)
    {
        public readonly int Length = length;
        public readonly int Capacity = capacity;
        public readonly ConcurrentQueue<byte[]> Arrays = new();

        // Arrays in Arrays (counted before they go in, so the capacity holds), and the fewest since the last trim.
        public int Count;
        public int LowWater;
    }

    /// <summary>
    /// Trims the pool after each collection that finds this object unreachable: it is finalized, and registers
    /// again, so once it has reached gen 2 that is after every full collection (the runtime's own pool does the same).
    /// It holds the pool through a weak handle of its own (a WeakReference object would be finalized along with it),
    /// and ends with the pool.
    /// </summary>
    private sealed class TrimAfterFullCollections(SendChunkPool pool)
    {
        private GCHandle _pool = GCHandle.Alloc(pool, GCHandleType.Weak);

        ~TrimAfterFullCollections()
        {
            if (_pool.Target is not SendChunkPool target)
            {
                _pool.Free();
                return;
            }

            target.Trim();
            if (!Environment.HasShutdownStarted)
            {
                GC.ReRegisterForFinalize(this);
            }
        }
    }
}
