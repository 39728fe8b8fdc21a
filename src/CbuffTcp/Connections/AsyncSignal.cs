using System.Threading.Tasks.Sources;

namespace CbuffTcp.Connections;

/// <summary>
/// A reusable, allocation-free wake-up for one waiter at a time: the write loop awaits it when its queue is empty,
/// and the first producer after that sets it. <see cref="Set"/> runs the waiter on the thread pool, so a producer
/// never runs the write loop (and its socket send) on its own stack; <see cref="SetInline"/> runs it on the caller's
/// thread, for the one caller that wants exactly that (the connection's own receive path, when a batch is handled).
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource, IThreadPoolWorkItem
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };

    /// <summary>Arms the signal for the next wait. Only the waiter calls this, and only after its previous wait ended.</summary>
    public void Reset() => _core.Reset();

    /// <summary>The wait for the armed signal.</summary>
    public ValueTask WaitAsync() => new(this, _core.Version);

    /// <summary>Wakes the waiter on the thread pool. Callers guarantee one wake-up per <see cref="Reset"/>.</summary>
    public void Set() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);

    /// <summary>Wakes the waiter on this thread: it runs until its next await that does not complete at once.</summary>
    public void SetInline() => _core.SetResult(true);

    void IThreadPoolWorkItem.Execute() => _core.SetResult(true);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
