namespace CbuffTcp.Connections;

internal sealed partial class Connection<TMessage>
{
    private int _closing;
    private DisconnectInfo? _closeReason;

    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    /// <summary>
    /// Starts closing; the first call's reason is the one reported. Reading stops, the send queue stops taking
    /// messages and flushes what it holds (bounded by the close-flush timeout), then the socket closes with FIN.
    /// Idempotent and safe from any thread, including handler callbacks.
    /// </summary>
    public void BeginClose(DisconnectReason reason, string detail)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _closeReason = new DisconnectInfo(reason, detail);
        _sendQueue.Complete();
        _ = AbortIfNotFlushedAsync();
    }

    /// <summary>Closes at once with RST, dropping what is queued: for stop timeouts.</summary>
    public void Abort(DisconnectReason reason, string detail)
    {
        BeginClose(reason, detail);
        _sendQueue.CompleteAndDiscard();
        _transport.Abort();
    }

    private async Task AbortIfNotFlushedAsync()
    {
        var flushed = _flushed.Task;
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
}
