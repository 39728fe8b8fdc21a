namespace CbuffTcp;

/// <summary>A handler whose every event does nothing: override the ones you need.</summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public abstract class TcpHandler<TMessage> : ITcpHandler<TMessage>
{
    /// <inheritdoc />
    public virtual ValueTask OnConnectedAsync(TcpConnection<TMessage> connection) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual ValueTask OnReceivedAsync(TcpConnection<TMessage> connection, MessageBatch<TMessage> messages) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual void OnSent(TcpConnection<TMessage> connection, TMessage message, ReadOnlySpan<byte> packet)
    {
    }

    /// <inheritdoc />
    public virtual ValueTask OnDisconnectedAsync(TcpConnection<TMessage> connection, DisconnectInfo reason) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual void OnError(string message, Exception? exception)
    {
    }

    /// <inheritdoc />
    public virtual void OnConnectionError(TcpConnection<TMessage> connection, string message, Exception? exception)
    {
    }
}
