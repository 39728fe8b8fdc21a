namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    // The flag and the reason in one reference, published by one compare-exchange: whoever sees the connection
    // closing sees why (a flag set before its reason let the dispatch loop see "closing" with no reason).
    private CloseRecord? _closed;

    // Completes when the write side has ended (flushed, or failed). Made only when something waits for that (a close,
    // mostly), never for an idle connection; once the write side has ended it is the shared completed one.
    private TaskCompletionSource? _flushed;
    private static readonly TaskCompletionSource FlushedAlready = CompletedSource();

    /// <summary>
    /// Starts closing; the first call's reason is the one reported. Reading stops, the send queue stops taking
    /// messages and flushes what it holds (bounded by the close-flush timeout), then the socket closes with FIN.
    /// Idempotent and safe from any thread, including handler callbacks.
    /// </summary>
    internal void BeginClose(DisconnectReason reason, string detail)
    {
        if (!TryRecordClose(reason, detail))
        {
            return;
        }

        _sendQueue.Complete();
        Throttle?.Dispose(); // a read waiting for its rate limit ends now
        _ = AbortIfNotFlushedAsync();
    }

    /// <summary>Closes at once with RST, dropping what is queued: for stop timeouts, slow consumers and <see cref="Abort(string)"/>.</summary>
    internal void Abort(DisconnectReason reason, string detail)
    {
        BeginClose(reason, detail);
        _sendQueue.CompleteAndDiscard();
        _transport.Abort();
    }

    /// <summary>Why the connection is closing or closed; null while nothing has closed it (reading it records nothing).</summary>
    internal DisconnectReason? ClosedFor => Volatile.Read(ref _closed)?.Info.Reason;

    /// <summary>The reason the connection closed for; <see cref="DisconnectReason.RemoteClosed"/> when nothing recorded one.</summary>
    private DisconnectInfo CloseReason
    {
        get
        {
            TryRecordClose(DisconnectReason.RemoteClosed, string.Empty);
            return Volatile.Read(ref _closed)!.Info;
        }
    }

    /// <summary>Records the reason if none is recorded yet; true for the one call that recorded it.</summary>
    private bool TryRecordClose(DisconnectReason reason, string detail) =>
        Volatile.Read(ref _closed) is null && Interlocked.CompareExchange(ref _closed, new CloseRecord(new DisconnectInfo(reason, detail)), null) is null;

    /// <summary>Completes when the write side has ended: everything queued was written (or dropped), and nothing more will be.</summary>
    private Task WhenFlushed()
    {
        var source = Volatile.Read(ref _flushed);
        if (source is null)
        {
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            source = Interlocked.CompareExchange(ref _flushed, created, null) ?? created;
        }

        return source.Task;
    }

    /// <summary>The write side has ended: completes whoever waits, and every later wait at once.</summary>
    private void MarkFlushed() => Interlocked.Exchange(ref _flushed, FlushedAlready)?.TrySetResult();

    private static TaskCompletionSource CompletedSource()
    {
        var source = new TaskCompletionSource();
        source.SetResult();
        return source;
    }

    private async Task AbortIfNotFlushedAsync()
    {
        var flushed = WhenFlushed();
        if (!flushed.IsCompleted)
        {
            // WaitAsync drops its timer as soon as the flush completes: thousands of quick closes leave no timers behind.
            await flushed.WaitAsync(_settings.CloseFlushTimeout, _settings.TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (!flushed.IsCompleted)
        {
            _transport.Abort();
        }
    }

    private sealed class CloseRecord(DisconnectInfo info)
    {
        public DisconnectInfo Info { get; } = info;
    }
}
