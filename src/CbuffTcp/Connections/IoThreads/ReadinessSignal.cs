using System.Threading.Tasks.Sources;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// One direction (readable or writable) of a socket under an edge-triggered epoll: the I/O thread counts edges, the
/// connection's loop records the count at which it last found the socket drained, and waits only while no edge came
/// since. An edge wakes the waiter inline, on the I/O thread: the read, its decode and the handler run there with no
/// hand-off. One waiter at a time (the connection's receive loop, or its write loop).
/// </summary>
internal sealed class ReadinessSignal : IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };
    private long _edges;
    private long _drainedAt;
    private int _waiting;

    /// <summary>Before trying the socket: the count to pass to <see cref="Drained"/> if the attempt finds nothing.</summary>
    public long Snapshot() => Volatile.Read(ref _edges);

    /// <summary>The attempt started at <paramref name="snapshot"/> found the socket drained (EAGAIN).</summary>
    public void Drained(long snapshot) => _drainedAt = snapshot;

    /// <summary>Completes at once if an edge came since the socket was last found drained, else at the next edge.</summary>
    public ValueTask<int> WaitAsync()
    {
        if (Volatile.Read(ref _edges) != _drainedAt)
        {
            return new ValueTask<int>(0);
        }

        _core.Reset();
        Interlocked.Exchange(ref _waiting, 1); // a full fence: the I/O thread's next edge sees the waiter, or we see its edge
        if (Volatile.Read(ref _edges) != _drainedAt && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            return new ValueTask<int>(0);
        }

        return new ValueTask<int>(this, _core.Version);
    }

    /// <summary>The I/O thread saw an edge: runs the waiter, if any, on this thread.</summary>
    public void Signal()
    {
        Interlocked.Increment(ref _edges);
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _core.SetResult(0);
        }
    }

    /// <summary>The socket is gone: wakes the waiter, if any, on the thread pool; it will find the socket closed.</summary>
    public void SignalClosed()
    {
        Interlocked.Increment(ref _edges);
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static signal => signal._core.SetResult(0), this, preferLocal: false);
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
