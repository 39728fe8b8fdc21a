using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections;

/// <summary>
/// The arrays connections send and receive through, 4 KiB to 1 MiB: the send queues' chunks, pack buffers grown for a
/// large message, receive buffers. Kept between uses for every server and client of the process, up to
/// <see cref="MaxRetainedBytesPerLength"/> of each length. Other lengths go to and come from
/// <see cref="ArrayPool{T}.Shared"/>, so an array rented from either can be returned here.
/// </summary>
/// <remarks>
/// A broadcast to a thousand idle clients rents a thousand arrays at once, and their write loops give them back a
/// moment later. <see cref="ArrayPool{T}.Shared"/> keeps 32 arrays of a length per core: the rest became garbage at
/// every broadcast, and zeroing fresh memory (and its page faults) took a sixth of the server's CPU in the fanout
/// benchmark (docs/profiles.md). This pool keeps what bursts need and lets go, after each full (gen 2) collection, of
/// the arrays the interval since the one before never needed, so a process that went quiet does not hold them long.
/// Lock-free: a queue per length.
/// <para>
/// The default instance also keeps one array per length with each thread that asks to (<see cref="KeepArraysOnThisThread"/>:
/// the I/O threads), for the rent-and-return on one thread of every echo. With no other thread: a connection on the thread pool rents on one thread and returns on another, and
/// an array kept by the returning thread waits there for that thread's next rent. On a pool of many threads, arrays
/// parked so kept the rents of the others missing: the runtime's shared pool, which keeps arrays with any thread, made a
/// thread-pool echo of 20 KB messages allocate a receive buffer's 128 to 512 KiB arrays, 160 bytes per message, in a CI
/// run.
/// </para>
/// </remarks>
internal sealed class ConnectionArrayPool : ArrayPool<byte>
{
    public const int MinLength = 4 * 1024;
    public const int MaxLength = 1024 * 1024;

    /// <summary>At most this many bytes of arrays of one length wait here (so at most 144 MiB in all, for bursts that used that many).</summary>
    public const int MaxRetainedBytesPerLength = 16 * 1024 * 1024;

    private static readonly int LengthCount = BitOperations.Log2(MaxLength / MinLength) + 1; // 4 KiB to 1 MiB: 9 lengths

    public static readonly ConnectionArrayPool Default = new(keepsOnePerThread: true, trimsAfterFullCollections: true);

    // On a thread that keeps arrays (KeepArraysOnThisThread), one slot per length; null on every other thread.
    [ThreadStatic]
    private static byte[]?[]? t_perThread;

    private readonly Bucket[] _buckets;
    private readonly bool _keepsOnePerThread;

    /// <param name="maxRetainedBytesPerLength">The bound of each length's queue.</param>
    /// <param name="keepsOnePerThread">Whether threads that keep arrays keep this pool's (one instance does).</param>
    /// <param name="trimsAfterFullCollections">Whether full collections trim it.</param>
    internal ConnectionArrayPool(int maxRetainedBytesPerLength = MaxRetainedBytesPerLength, bool keepsOnePerThread = false, bool trimsAfterFullCollections = false)
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

    /// <summary>
    /// From now on this thread keeps one array of each length for itself: for a thread that rents what it returns (an
    /// I/O thread). A thread that returns what others rented must not, or what it keeps waits there while they allocate.
    /// </summary>
    public static void KeepArraysOnThisThread() => t_perThread ??= new byte[]?[LengthCount];

    /// <summary>Where connections with <paramref name="configured"/> as their buffer pool get their arrays: here for the runtime's shared pool, else that pool (tests count rentals through one).</summary>
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

        if (_keepsOnePerThread && t_perThread is { } perThread && perThread[index] is null)
        {
            perThread[index] = array;
            return;
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
    private sealed class TrimAfterFullCollections(ConnectionArrayPool pool)
    {
        private GCHandle _pool = GCHandle.Alloc(pool, GCHandleType.Weak);

        ~TrimAfterFullCollections()
        {
            if (_pool.Target is not ConnectionArrayPool target)
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
