namespace CbuffTcp;

/// <summary>
/// The events of a server's or a client's connections (the seed's <c>EventHandler</c>). Every callback of one
/// connection receives the same <see cref="TcpConnection{TMessage}"/>: reply with its <c>Send</c>, close it with its
/// <c>Close</c>, keep state in its <c>State</c>, and reach the server (for broadcasts) through its <c>Server</c>. One
/// handler class can serve a <see cref="TcpServer{TMessage}"/> and a <see cref="TcpClient{TMessage}"/> alike. Derive
/// from <see cref="TcpHandler{TMessage}"/> (or <see cref="TcpHandler{TMessage, TState}"/>) to implement only the
/// events you need.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>
/// <para>Threading: callbacks for different connections may run concurrently; callbacks for one connection never do.
/// For one connection, <see cref="OnConnectedAsync"/> completes before any <see cref="OnReceivedAsync"/>, messages
/// arrive in the order they were sent, and <see cref="OnDisconnectedAsync"/> runs exactly once, after the last
/// <see cref="OnReceivedAsync"/>.</para>
/// <para>Errors: an exception thrown by a callback is reported through <see cref="OnConnectionError"/> and closes that
/// connection only (<see cref="DisconnectReason.HandlerError"/>). The server and other connections keep running.</para>
/// </remarks>
public interface ITcpHandler<TMessage>
{
    /// <summary>A connection was established (the seed's <c>OnNewConnection</c>). Messages sent from here are delivered first.</summary>
    ValueTask OnConnectedAsync(TcpConnection<TMessage> connection);

    /// <summary>
    /// The messages decoded from one read (the seed's <c>OnReceiveData</c>). Reading from this connection waits for
    /// the returned task (with <c>AsyncReceive</c> off), so a slow handler slows only its own connection.
    /// The batch is valid only until the returned task completes; see <see cref="MessageBatch{TMessage}"/>.
    /// </summary>
    ValueTask OnReceivedAsync(TcpConnection<TMessage> connection, MessageBatch<TMessage> messages);

    /// <summary>
    /// A message was written to the socket (the seed's <c>OnSendedData</c>): <paramref name="message"/> is decoded
    /// back from <paramref name="packet"/>, the exact bytes written for it. Called only when
    /// <see cref="TcpConnectionOptions.NotifySent"/> is on, from the connection's write loop; both arguments are valid
    /// only during the call.
    /// </summary>
    void OnSent(TcpConnection<TMessage> connection, TMessage message, ReadOnlySpan<byte> packet);

    /// <summary>The connection ended (the seed's <c>OnDisconnected</c>), with the reason. Called exactly once per connection.</summary>
    ValueTask OnDisconnectedAsync(TcpConnection<TMessage> connection, DisconnectInfo reason);

    /// <summary>An error of no one connection: accepting failed, or a send's <c>Pack</c> threw (the seed's <c>OnError</c>).</summary>
    void OnError(string message, Exception? exception);

    /// <summary>
    /// An error of one connection: bad input, or an exception from user code for it (the seed's <c>OnCliError</c> and
    /// <c>OnCliErrorStr</c>; <paramref name="exception"/> is null for the latter kind). The connection is closing.
    /// </summary>
    void OnConnectionError(TcpConnection<TMessage> connection, string message, Exception? exception);
}
