namespace CbuffTcp;

/// <summary>
/// A handler with typed per-connection state: <see cref="CreateState"/> makes it when a connection is established,
/// and every later event of that connection receives it, with no cast and no lookup. Every event does nothing unless
/// overridden.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <typeparam name="TState">The state of one connection (a session, a player); kept in <see cref="TcpConnection{TMessage}.State"/>.</typeparam>
/// <remarks>
/// The state is the connection's own: callbacks of one connection never overlap, so it needs no lock unless other
/// threads (other connections' callbacks, say) reach it too. When <see cref="CreateState"/> throws, the connection
/// closes with <see cref="DisconnectReason.HandlerError"/> and, having no state, gets no typed
/// <see cref="OnDisconnectedAsync(TcpConnection{TMessage}, TState, DisconnectInfo)"/>.
/// </remarks>
public abstract class TcpHandler<TMessage, TState> : ITcpHandler<TMessage>
    where TState : class
{
    /// <summary>Makes the state of a connection just established, before <see cref="OnConnectedAsync(TcpConnection{TMessage}, TState)"/>.</summary>
    protected abstract TState CreateState(TcpConnection<TMessage> connection);

    /// <inheritdoc cref="ITcpHandler{TMessage}.OnConnectedAsync"/>
    public virtual ValueTask OnConnectedAsync(TcpConnection<TMessage> connection, TState state) => ValueTask.CompletedTask;

    /// <inheritdoc cref="ITcpHandler{TMessage}.OnReceivedAsync"/>
    public virtual ValueTask OnReceivedAsync(TcpConnection<TMessage> connection, TState state, MessageBatch<TMessage> messages) => ValueTask.CompletedTask;

    /// <inheritdoc cref="ITcpHandler{TMessage}.OnSent"/>
    public virtual void OnSent(TcpConnection<TMessage> connection, TState state, TMessage message, ReadOnlySpan<byte> packet)
    {
    }

    /// <inheritdoc cref="ITcpHandler{TMessage}.OnDisconnectedAsync"/>
    public virtual ValueTask OnDisconnectedAsync(TcpConnection<TMessage> connection, TState state, DisconnectInfo reason) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual void OnError(string message, Exception? exception)
    {
    }

    /// <inheritdoc />
    public virtual void OnConnectionError(TcpConnection<TMessage> connection, string message, Exception? exception)
    {
    }

    ValueTask ITcpHandler<TMessage>.OnConnectedAsync(TcpConnection<TMessage> connection)
    {
        var state = CreateState(connection) ?? throw new InvalidOperationException($"{GetType().Name}.CreateState returned null.");
        connection.State = state;
        return OnConnectedAsync(connection, state);
    }

    ValueTask ITcpHandler<TMessage>.OnReceivedAsync(TcpConnection<TMessage> connection, MessageBatch<TMessage> messages) =>
        OnReceivedAsync(connection, StateOf(connection), messages);

    void ITcpHandler<TMessage>.OnSent(TcpConnection<TMessage> connection, TMessage message, ReadOnlySpan<byte> packet) =>
        OnSent(connection, StateOf(connection), message, packet);

    ValueTask ITcpHandler<TMessage>.OnDisconnectedAsync(TcpConnection<TMessage> connection, DisconnectInfo reason) =>
        connection.State is TState state ? OnDisconnectedAsync(connection, state, reason) : ValueTask.CompletedTask;

    private static TState StateOf(TcpConnection<TMessage> connection) =>
        connection.State as TState ?? throw new InvalidOperationException(
            $"Connection {connection.Id} holds no {typeof(TState).Name} in its State (was State set to something else?).");
}
