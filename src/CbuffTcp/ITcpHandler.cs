namespace CbuffTcp;

/// <summary>
/// The events of one server or client connector (the seed's <c>EventHandler</c>). Derive from
/// <see cref="TcpHandler{TMessage}"/> to implement only the events you need.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>
/// <para>Threading: callbacks for different clients may run concurrently; callbacks for one client never do.
/// For one client, <see cref="OnConnectedAsync"/> completes before any <see cref="OnReceivedAsync"/>, messages arrive
/// in the order they were sent, and <see cref="OnDisconnectedAsync"/> runs exactly once, after the last
/// <see cref="OnReceivedAsync"/>.</para>
/// <para>Errors: an exception thrown by a callback is reported through <see cref="OnClientError"/> and closes that
/// client only (<see cref="DisconnectReason.HandlerError"/>). The server and other clients keep running.</para>
/// </remarks>
public interface ITcpHandler<TMessage>
{
    /// <summary>A client connected (the seed's <c>OnNewConnection</c>). Messages sent from here are delivered first.</summary>
    ValueTask OnConnectedAsync(ClientInfo client);

    /// <summary>
    /// The messages decoded from one read (the seed's <c>OnReceiveData</c>). Reading from this client waits for the
    /// returned task (with <c>AsyncReceive</c> off), so a slow handler slows only its own client.
    /// The batch is valid only until the returned task completes; see <see cref="MessageBatch{TMessage}"/>.
    /// </summary>
    ValueTask OnReceivedAsync(ClientInfo client, MessageBatch<TMessage> messages);

    /// <summary>
    /// A message was written to the socket (the seed's <c>OnSendedData</c>): <paramref name="message"/> is decoded
    /// back from <paramref name="packet"/>, the exact bytes written for it. Called only when
    /// <see cref="TcpConnectionOptions.NotifySent"/> is on, from the client's write loop; both arguments are valid
    /// only during the call.
    /// </summary>
    void OnSent(ClientInfo client, TMessage message, ReadOnlySpan<byte> packet);

    /// <summary>The connection ended (the seed's <c>OnDisconnected</c>), with the reason. Called exactly once per connected client.</summary>
    ValueTask OnDisconnectedAsync(ClientInfo client, DisconnectInfo reason);

    /// <summary>A server-level error: accepting failed, or a send's <c>Pack</c> threw (the seed's <c>OnError</c>).</summary>
    void OnError(string message, Exception? exception);

    /// <summary>
    /// An error of one client: bad input, or an exception from user code for it (the seed's <c>OnCliError</c> and
    /// <c>OnCliErrorStr</c>; <paramref name="exception"/> is null for the latter kind).
    /// </summary>
    void OnClientError(ClientInfo client, string message, Exception? exception);
}
