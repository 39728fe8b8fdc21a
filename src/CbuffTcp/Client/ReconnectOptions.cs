using System.ComponentModel.DataAnnotations;

namespace CbuffTcp;

/// <summary>
/// How a <see cref="TcpClient{TMessage}"/> reconnects after its connection is lost (<see cref="TcpClientOptions.Reconnect"/>),
/// and what it keeps meanwhile. Not after the client's own close: <c>CloseAsync</c>, or a handler that closes or aborts
/// its connection.
/// </summary>
/// <remarks>
/// Attempt <c>n</c> (from 1) waits a random time between zero and <c>min(MaxDelay, InitialDelay × 2^(n-1))</c> (full
/// jitter: a thousand clients that lost one server do not come back in step), then connects. Messages sent while
/// disconnected wait in a bounded outbox and go out first, in order, once connected again: after what the handler's
/// <c>OnConnectedAsync</c> and <see cref="IReconnectHandler{TMessage}.OnReconnectedAsync"/> send (a login, a resubscribe),
/// before anything sent after them. Messages already handed to the connection that broke are not sent again: whether
/// the server got them cannot be known.
/// </remarks>
public sealed class ReconnectOptions
{
    /// <summary>The cap of the first attempt's wait; each attempt doubles it, up to <see cref="MaxDelay"/>. Defaults to 200 ms.</summary>
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The most any attempt waits before it connects. Defaults to 30 seconds.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Attempts before the client gives up (<see cref="IReconnectHandler{TMessage}.OnReconnectFailedAsync"/>, and the
    /// outbox is dropped); null tries until closed. Defaults to null.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int? MaxAttempts { get; set; }

    /// <summary>
    /// The most bytes the outbox holds while disconnected; a send that does not fit returns
    /// <see cref="SendResult.QueueFull"/> (one message always fits an empty outbox). 0 turns the outbox off: sends
    /// while disconnected return <see cref="SendResult.Closed"/> at once. Defaults to 1 MiB.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int OutboxMaxBytes { get; set; } = 1024 * 1024;

    /// <summary>The most messages the outbox holds while disconnected. Defaults to 10,000.</summary>
    [Range(1, int.MaxValue)]
    public int OutboxMaxMessages { get; set; } = 10_000;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialDelay, TimeSpan.Zero, nameof(InitialDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, InitialDelay, nameof(MaxDelay));
        if (MaxAttempts is { } attempts)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(attempts, 1, nameof(MaxAttempts));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(OutboxMaxBytes, nameof(OutboxMaxBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(OutboxMaxMessages, 1, nameof(OutboxMaxMessages));
    }

    /// <summary>The wait before attempt <paramref name="attempt"/> (from 1): full jitter under the doubling cap.</summary>
    internal TimeSpan DelayBefore(int attempt, Random random)
    {
        var cap = InitialDelay.Ticks * Math.Pow(2, Math.Min(attempt - 1, 62));
        return TimeSpan.FromTicks((long)(random.NextDouble() * Math.Min(cap, MaxDelay.Ticks)));
    }
}
