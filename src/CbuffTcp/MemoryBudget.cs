using System.Numerics;

namespace CbuffTcp;

/// <summary>
/// The server-wide bound on what it holds for its clients (<see cref="TcpServerOptions.MemoryBudget"/>): every pooled
/// array a send queue or a receive buffer takes past its first small one, what an AsyncReceive queue holds, and a pack
/// buffer grown past 64 KiB is reserved here before it is taken, and given back when it is returned, on every path. A
/// reservation that would pass the limit is refused: the send that needed it returns <see cref="SendResult.QueueFull"/>,
/// the receive buffer stops growing and its connection reading. One interlocked add per array, none per message; the
/// common case (a reply that fits the queue's first 4 KiB array, a read into the first 4 KiB) reserves nothing.
/// </summary>
internal sealed class MemoryBudget(long limit)
{
    private long _used;
    private TaskCompletionSource? _released;
    private long _refusals;
    private int _refusing;

    public long Limit { get; } = limit;

    /// <summary>Bytes reserved now.</summary>
    public long Used => Volatile.Read(ref _used);

    /// <summary>Reservations refused since the server started.</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    /// <summary>Told the first refusal of each streak (a streak ends once use falls under half the limit: a storm is one line, not one per array freed): the server logs it.</summary>
    public Action<MemoryBudget, long>? StreakStarted { get; init; }

    /// <summary>Reserves <paramref name="bytes"/>, or refuses (and counts) when that would pass the limit.</summary>
    public bool TryReserve(long bytes)
    {
        if (Interlocked.Add(ref _used, bytes) <= Limit)
        {
            return true;
        }

        Interlocked.Add(ref _used, -bytes);
        Interlocked.Increment(ref _refusals);
        if (Interlocked.Exchange(ref _refusing, 1) == 0)
        {
            StreakStarted?.Invoke(this, bytes);
        }

        return false;
    }

    /// <summary>Counts bytes a pool handed out beyond what was reserved for them (a pool that rounds up past a power of two).</summary>
    public void Add(long bytes) => Interlocked.Add(ref _used, bytes);

    /// <summary>Gives bytes back; once use falls under half the limit, the streak of refusals (if any) is over.</summary>
    public void Release(long bytes)
    {
        var used = Interlocked.Add(ref _used, -bytes);
        if (Volatile.Read(ref _released) is not null)
        {
            Interlocked.Exchange(ref _released, null)?.TrySetResult(); // connections waiting for memory try again
        }

        if (Volatile.Read(ref _refusing) != 0 && used < Limit / 2)
        {
            Volatile.Write(ref _refusing, 0);
        }
    }

    /// <summary>Completes at the next release: a connection waiting for memory awaits it (then checks <see cref="HasRoomFor"/> again).</summary>
    public Task ReleasedAsync()
    {
        while (true)
        {
            if (Volatile.Read(ref _released) is { } current)
            {
                return current.Task;
            }

            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Interlocked.CompareExchange(ref _released, created, null) is null)
            {
                return created.Task;
            }
        }
    }

    /// <summary>
    /// Completes once <paramref name="satisfied"/> holds (checked now and after each release), or once
    /// <paramref name="abandon"/> completes (the waiter's connection closed). For the waits of a connection held back by
    /// the budget: never polls, woken by memory given back.
    /// </summary>
    public async Task WaitUntilAsync(Func<bool> satisfied, Task abandon)
    {
        while (!satisfied() && !abandon.IsCompleted)
        {
            var released = ReleasedAsync();
            if (satisfied())
            {
                return; // a release came between the check and the wait
            }

            await Task.WhenAny(released, abandon).ConfigureAwait(false);
        }
    }

    /// <summary>True when <paramref name="bytes"/> more would fit now.</summary>
    public bool HasRoomFor(long bytes) => Used + bytes <= Limit;

    /// <summary>What the shared pool hands out for <paramref name="length"/>: its arrays are powers of two.</summary>
    public static int PooledLength(int length) => (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, 16)), int.MaxValue);

    /// <summary>
    /// The default budget: half of what the GC may use (its heap hard limit, else the container's memory limit, else the
    /// machine's memory), at least 64 MiB.
    /// </summary>
    public static long DefaultLimit() => Math.Max(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2, 64L * 1024 * 1024);
}
