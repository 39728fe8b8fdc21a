namespace CbuffTcp;

/// <summary>
/// Optional, for a client's handler with <see cref="TcpClientOptions.Reconnect"/> on: hears each attempt, the return,
/// and giving up. The loss itself is the handler's <c>OnDisconnectedAsync</c>, as always.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public interface IReconnectHandler<TMessage>
{
    /// <summary>Before attempt <paramref name="attempt"/> waits and connects.</summary>
    ValueTask OnReconnectingAsync(ReconnectAttempt attempt);

    /// <summary>
    /// Connected again, after <c>OnConnectedAsync</c> and before the outbox drains: what this sends through
    /// <paramref name="connection"/> (a login, a resubscribe) goes out before the messages sent while disconnected.
    /// </summary>
    ValueTask OnReconnectedAsync(TcpConnection<TMessage> connection, int attempts);

    /// <summary>
    /// <see cref="ReconnectOptions.MaxAttempts"/> attempts failed: the client stops, and the messages its outbox held
    /// (<paramref name="droppedMessages"/>) are dropped.
    /// </summary>
    ValueTask OnReconnectFailedAsync(int attempts, Exception? lastError, int droppedMessages);
}
