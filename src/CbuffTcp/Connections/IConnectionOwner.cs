namespace CbuffTcp.Connections;

/// <summary>
/// What a connection tells the server that runs it. One interface on the server instead of a wrapper task per
/// connection: an idle connection holds one fewer waiting state machine.
/// </summary>
internal interface IConnectionOwner<TMessage>
{
    /// <summary>The loops have ended; <c>OnDisconnectedAsync</c> is about to run. Free the client's slots.</summary>
    void Closing(TcpConnection<TMessage> connection);

    /// <summary>The connection failed in CbuffTcp itself (a bug: user code failures are handled inside).</summary>
    void Failed(TcpConnection<TMessage> connection, Exception exception);

    /// <summary>Everything is over, <c>OnDisconnectedAsync</c> included.</summary>
    void Ended(TcpConnection<TMessage> connection);

    /// <summary>
    /// A trusted proxy named the connection's client: move its per-IP slot to that address. False (and counted as a
    /// refusal) when that address is at its limit; the connection keeps its old address and closes.
    /// </summary>
    bool MoveToClientAddress(TcpConnection<TMessage> connection, System.Net.EndPoint client);

    /// <summary>The connection was refused over its PROXY header (or the lack of one), before any handler call.</summary>
    void ProxyHeaderRefused(TcpConnection<TMessage> connection, string reason);
}
