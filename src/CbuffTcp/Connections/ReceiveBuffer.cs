using System.Buffers;
using System.Numerics;

namespace CbuffTcp.Connections;

/// <summary>
/// A connection's received bytes not yet decoded, in one contiguous pooled array: rented when data arrives, kept while
/// more keeps arriving, and returned when the connection waits with every byte decoded, so an idle connection holds
/// none. A partial frame stays at the front of an array that grows as the frame needs, doubling up to <c>maxLength</c>
/// (the connection refuses frames past its limit before that).
/// </summary>
/// <remarks>
/// A mutable struct held by the connection's receive loop (a field of its state machine): no object of its own.
/// Protocols see the bytes as a single-segment sequence, their fastest path.
/// With the server's memory budget, every array past the first 4 KiB of it is reserved before it is rented and given
/// back when it is returned (or handed over): when the budget refuses, the buffer does not grow, and
/// <see cref="GetReadMemory"/> returns nothing once the array is full (the connection then waits for memory).
/// </remarks>
internal struct ReceiveBuffer(ArrayPool<byte> pool, int maxLength, MemoryBudget? budget = null)
{
    /// <summary>What an array costs the budget: its bytes past this floor, so a connection's usual small read array is free.</summary>
    public const int BudgetFloor = ConnectionSettings.MinReadSize;

    /// <summary>The smallest array a leftover partial frame is kept in (see <see cref="TrimForWait"/>).</summary>
    public const int MinTrimmedSize = 256;

    // The largest first array a burst gets (see TrimForWait): room for a few 64 KiB frames and a large read.
    private const int MaxFirstArraySize = 512 * 1024;

    // The connections' own pool for the runtime's shared one: a receive loop on the thread pool returns an array on
    // another thread than it rented it on, and the shared pool keeps returns with that thread (see ConnectionArrayPool).
    private readonly ArrayPool<byte> _pool = ConnectionArrayPool.For(pool);
    private byte[]? _array;
    private int _start;
    private int _end;
    private int _receivedSinceWait; // up to the largest first array: all a wait's trim asks of it (and an int packs the struct to 48 bytes)
    private int _firstArraySize;

    /// <summary>What the budget last refused (bytes): a connection waiting for memory waits until that much may be free.</summary>
    public int RefusedCost { get; private set; }

    /// <summary>Bytes received and not yet consumed.</summary>
    public readonly int Length => _end - _start;

    /// <summary>The bytes received and not yet consumed, for the protocol.</summary>
    public readonly ReadOnlySequence<byte> Data => _array is null ? ReadOnlySequence<byte>.Empty : new(_array, _start, _end - _start);

    /// <summary>
    /// Free space after the data for the next read: at least <paramref name="readSize"/> bytes, or what is left under
    /// <c>maxLength</c> when that is less (never less than a frame's slack: the connection refuses input past it first).
    /// </summary>
    public Memory<byte> GetReadMemory(int readSize)
    {
        var room = maxLength - Length;
        readSize = Math.Min(readSize, room);
        if (_array is null)
        {
            _array = Rent(Math.Max(readSize, Math.Min(_firstArraySize, room))) ?? Rent(Math.Min(readSize, BudgetFloor));
            if (_array is null)
            {
                return Memory<byte>.Empty;
            }
        }
        else if (_array.Length - _end < readSize)
        {
            MakeRoom(readSize);
        }

        return _array.AsMemory(_end, Math.Min(_array.Length - _end, room));
    }

    /// <summary>Counts <paramref name="count"/> bytes just read into <see cref="GetReadMemory"/>'s space.</summary>
    public void Advance(int count)
    {
        _end += count;
        _receivedSinceWait = Math.Min(_receivedSinceWait + count, MaxFirstArraySize);
    }

    /// <summary>
    /// Drops the first <paramref name="count"/> bytes (decoded). Once nothing is left the next read starts at the front
    /// of the same array: a busy connection neither re-rents nor moves anything (<see cref="TrimForWait"/> returns it).
    /// </summary>
    public void Consume(long count)
    {
        _start += (int)count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Gives the array away with its first <paramref name="consumed"/> bytes (decoded frames that messages still point
    /// into: AsyncReceive hands them to the dispatch loop, which returns the array to the pool once they are handled),
    /// and keeps what follows (a partial frame) in an array of its own. Null when nothing was consumed. What the budget
    /// reserved for the array stays reserved (<paramref name="reserved"/>): the taker releases it with the array.
    /// </summary>
    public byte[]? HandOver(long consumed, out int reserved)
    {
        reserved = 0;
        if (consumed == 0)
        {
            return null;
        }

        var array = _array!;
        var leftover = Length - (int)consumed;
        _array = null;
        if (leftover > 0)
        {
            // The partial frame must stay: counted even past the budget (at most a frame; the frame timeout bounds it).
            _array = _pool.Rent(Math.Max(leftover, ConnectionSettings.MinReadSize));
            if (Cost(_array.Length) is var kept and > 0)
            {
                budget!.Add(kept);
            }
            array.AsSpan(_start + (int)consumed, leftover).CopyTo(_array);
        }

        reserved = Cost(array.Length);
        _start = 0;
        _end = leftover;
        return array;
    }

    /// <summary>The most bytes of a partial frame <see cref="TrimForWait"/> moves: a larger one keeps its array.</summary>
    public const int MaxTrimmedLength = 4 * 1024;

    /// <summary>
    /// Before the connection waits on its peer: with nothing held the array goes back to the pool, and a small partial
    /// frame moves to an array of about its size, so a thousand clients trickling frames hold a thousand small arrays
    /// rather than a read buffer each. The next burst's first array is as large as this burst was (up to 512 KiB):
    /// a bulk sender's connection, which waits between bursts, does not grow a small array again each time,
    /// copying what it holds at every doubling.
    /// </summary>
    /// <remarks>
    /// A large partial frame stays where it is: a bulk sender's connection waits between reads with much of a frame
    /// held, and moving it out to a small array and back into a large one at every wait copied it twice per wait.
    /// What a connection holds stays under its frame limit plus a read either way.
    /// </remarks>
    public void TrimForWait()
    {
        var burst = _receivedSinceWait;
        _receivedSinceWait = 0;
        _firstArraySize = (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)burst), MaxFirstArraySize);
        var length = Length;
        if (length == 0)
        {
            Release();
            return;
        }

        if (_array is null || _array.Length <= MinTrimmedSize || length > _array.Length / 4 || length > MaxTrimmedLength)
        {
            return;
        }

        if (Rent(Math.Max(length, MinTrimmedSize)) is { } smaller)
        {
            MoveTo(smaller);
        }
    }

    /// <summary>Returns the array to the pool, dropping what it held. Safe to call more than once.</summary>
    public void Release()
    {
        if (_array is not null)
        {
            Return(_array);
        }

        _array = null;
        _start = _end = 0;
    }

    private readonly int Cost(int length) => budget is null ? 0 : Math.Max(0, length - BudgetFloor);

    /// <summary>Rents an array, reserving its cost first; null when the budget refuses.</summary>
    private byte[]? Rent(int length)
    {
        var cost = Cost(MemoryBudget.PooledLength(length));
        if (cost > 0 && !budget!.TryReserve(cost))
        {
            RefusedCost = cost;
            return null;
        }

        var array = _pool.Rent(length);
        if (Cost(array.Length) != cost)
        {
            budget?.Add(Cost(array.Length) - cost); // a pool that rounds differently from the shared one: counted all the same
        }

        return array;
    }

    private readonly void Return(byte[] array)
    {
        _pool.Return(array);
        if (Cost(array.Length) is var cost and > 0)
        {
            budget!.Release(cost); // a small array cost nothing: no shared counter touched on the common path
        }
    }

    private void MakeRoom(int readSize)
    {
        var length = Length;
        var needed = length + readSize;
        if (needed <= _array!.Length)
        {
            // Enough room once the consumed bytes at the front are gone.
            _array.AsSpan(_start, length).CopyTo(_array);
            _start = 0;
            _end = length;
            return;
        }

        if (Rent(Math.Max(needed, Math.Min(_array.Length * 2, maxLength))) is { } larger)
        {
            MoveTo(larger);
        }
        else if (_start > 0)
        {
            // No memory to grow: make what room the array has by moving the data to its front.
            _array.AsSpan(_start, length).CopyTo(_array);
            _start = 0;
            _end = length;
        }
    }

    private void MoveTo(byte[] array)
    {
        var length = Length;
        var old = _array!;
        old.AsSpan(_start, length).CopyTo(array);
        Return(old);
        _array = array;
        _start = 0;
        _end = length;
    }
}
