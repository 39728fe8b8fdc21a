namespace CbuffTcp;

/// <summary>A handler whose every event does nothing: override the ones you need.</summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public abstract class TcpHandler<TMessage> : ITcpHandler<TMessage>
{
    /// <inheritdoc />
    public virtual ValueTask OnConnectedAsync(ClientInfo client) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual ValueTask OnReceivedAsync(ClientInfo client, MessageBatch<TMessage> messages) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual void OnSent(ClientInfo client, TMessage message, ReadOnlySpan<byte> packet)
    {
    }

    /// <inheritdoc />
    public virtual ValueTask OnDisconnectedAsync(ClientInfo client, DisconnectInfo reason) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public virtual void OnError(string message, Exception? exception)
    {
    }

    /// <inheritdoc />
    public virtual void OnClientError(ClientInfo client, string message, Exception? exception)
    {
    }
}
