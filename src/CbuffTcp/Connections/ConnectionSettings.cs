namespace CbuffTcp.Connections;

/// <summary>A snapshot of the per-connection options, taken once at start so later edits to the options object cannot race.</summary>
internal sealed record ConnectionSettings(
    bool AsyncReceive,
    int AsyncReceiveQueueLimit,
    int SendQueueMaxBytes,
    int SendQueueMaxMessages,
    SlowConsumerPolicy SlowConsumerPolicy,
    int MaxFrameSize,
    TimeSpan CloseFlushTimeout,
    bool NotifySent,
    bool NoDelay)
{
    /// <summary>Room for the frame's header and the read that completes it, on top of the frame itself.</summary>
    public const int ReceiveSlack = 64 * 1024;

    /// <summary>Minimum size of a receive buffer segment.</summary>
    public const int ReceiveSegmentSize = 16 * 1024;

    /// <summary>Messages handed to one <c>OnReceivedAsync</c> call at most; a longer read is delivered in several batches.</summary>
    public const int MaxBatchSize = 256;

    public static ConnectionSettings From(TcpConnectionOptions options)
    {
        options.Validate();
        return new ConnectionSettings(
            options.AsyncReceive,
            options.AsyncReceiveQueueLimit,
            options.SendQueueMaxBytes,
            options.SendQueueMaxMessages,
            options.SlowConsumerPolicy,
            options.MaxFrameSize,
            options.CloseFlushTimeout,
            options.NotifySent,
            options.NoDelay);
    }

    /// <summary>Unconsumed input at which reading pauses: a whole frame plus one read must fit, or a frame could never complete.</summary>
    public long PauseReadingThreshold => (long)MaxFrameSize + ReceiveSlack;
}
