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
}
