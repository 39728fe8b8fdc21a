using System.Buffers;
using System.Runtime.CompilerServices;
using CbuffTcp.Connections;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// The connections' pool keeps what a burst rented (a broadcast to many idle clients rents an array for each), up to
/// its bound, hands the same arrays out again without allocating, and lets go of what a whole interval between full
/// collections never needed. Only the threads it is told of keep arrays for themselves.
/// </summary>
public class ConnectionArrayPoolTests
{
    private const int Chunk = ConnectionArrayPool.MinLength;

    [Theory]
    [InlineData(1, 4096)]
    [InlineData(4096, 4096)]
    [InlineData(4097, 8192)]
    [InlineData(40_000, 65_536)]
    [InlineData(65_536, 65_536)]
    [InlineData(300_000, 524_288)]
    [InlineData(1_048_576, 1_048_576)]
    public void Rents_arrays_of_4_KiB_to_1_MiB_that_fit(int asked, int length)
    {
        var pool = new ConnectionArrayPool();

        var array = pool.Rent(asked);

        Assert.Equal(length, array.Length);
        pool.Return(array);
        Assert.Equal(1, pool.Retained);
        Assert.Same(array, pool.Rent(asked));
    }

    [Fact]
    public void Other_lengths_come_from_and_go_to_the_shared_pool()
    {
        var pool = new ConnectionArrayPool();

        var large = pool.Rent(ConnectionArrayPool.MaxLength + 1);
        pool.Return(large);
        pool.Return(ArrayPool<byte>.Shared.Rent(1024));

        Assert.True(large.Length > ConnectionArrayPool.MaxLength);
        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public void A_burst_returned_is_rented_again_without_allocating()
    {
        const int burst = 1_000;
        var pool = new ConnectionArrayPool();
        var held = new byte[burst][];
        RentAndReturn(pool, held); // the first burst allocates its arrays
        var first = held.ToHashSet(ReferenceEqualityComparer.Instance);

        var before = GC.GetAllocatedBytesForCurrentThread();
        RentAndReturn(pool, held);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.All(held, array => Assert.Contains(array, first));
        Assert.Equal(burst, pool.Retained);
    }

    [Fact]
    public void Keeps_at_most_its_bound_of_each_length()
    {
        var pool = new ConnectionArrayPool(maxRetainedBytesPerLength: 4 * Chunk);
        var held = new byte[6][];

        RentAndReturn(pool, held);

        Assert.Equal(4, pool.Retained);
    }

    [Fact]
    public void A_trim_lets_go_of_the_arrays_the_interval_before_it_never_needed()
    {
        var pool = new ConnectionArrayPool();
        RentAndReturn(pool, new byte[8][]);
        pool.Trim(); // the interval that ends here needed all eight
        Assert.Equal(8, pool.Retained);

        RentAndReturn(pool, new byte[3][]); // this one needs three at once
        pool.Trim();
        Assert.Equal(3, pool.Retained);

        pool.Trim(); // and this one none
        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public void Full_collections_trim_a_pool_that_is_not_used()
    {
        var pool = FilledPoolThatTrims();

        for (var i = 0; i < 4 && pool.Retained > 0; i++) // the trigger starts in gen 0: it runs from the first collection
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public void An_array_returned_on_a_thread_that_keeps_none_is_rented_on_any_other()
    {
        // A thread-pool connection rents on one thread and returns on another: kept by the returning thread, the array
        // would wait for that thread's next rent while rents elsewhere allocated.
        var pool = new ConnectionArrayPool(keepsOnePerThread: true);
        var array = OnNewThread(keeps: false, () => pool.Rent(Chunk));

        OnNewThread(keeps: false, () =>
        {
            pool.Return(array);
            return 0;
        });

        Assert.Equal(1, pool.Retained);
        Assert.Same(array, OnNewThread(keeps: false, () => pool.Rent(Chunk)));
    }

    [Fact]
    public void A_thread_that_keeps_arrays_gets_its_own_back_first()
    {
        var pool = new ConnectionArrayPool(keepsOnePerThread: true);
        var (kept, retained, again) = OnNewThread(keeps: true, () =>
        {
            var array = pool.Rent(Chunk);
            pool.Return(array);
            var retained = pool.Retained;
            return (array, retained, pool.Rent(Chunk));
        });

        Assert.Equal(0, retained); // kept with the thread, not queued
        Assert.Same(kept, again);
    }

    /// <summary>Runs <paramref name="work"/> on a thread of its own (one that keeps arrays, or not) and returns what it returned.</summary>
    private static T OnNewThread<T>(bool keeps, Func<T> work)
    {
        T result = default!;
        var thread = new Thread(() =>
        {
            if (keeps)
            {
                ConnectionArrayPool.KeepArraysOnThisThread();
            }

            result = work();
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // nothing of the pool's making stays on the test's stack
    private static ConnectionArrayPool FilledPoolThatTrims()
    {
        var pool = new ConnectionArrayPool(trimsAfterFullCollections: true);
        RentAndReturn(pool, new byte[8][]);
        return pool;
    }

    private static void RentAndReturn(ArrayPool<byte> pool, byte[][] held)
    {
        for (var i = 0; i < held.Length; i++)
        {
            held[i] = pool.Rent(Chunk);
        }

        foreach (var array in held)
        {
            pool.Return(array);
        }
    }
}
