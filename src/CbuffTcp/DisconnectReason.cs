namespace CbuffTcp;

/// <summary>Why a connection ended. Every connection ends with exactly one reason, recorded once.</summary>
public enum DisconnectReason
{
    /// <summary>The peer closed its side (FIN).</summary>
    RemoteClosed = 0,

    /// <summary>The peer reset the connection, or the network failed under it.</summary>
    Reset = 1,

    /// <summary>
    /// This side closed it gracefully: <see cref="TcpConnection{TMessage}.Close"/>, a server's <c>CloseClient</c> or
    /// <c>CloseClients</c>, or a client's <c>CloseAsync</c>. The detail holds the caller's reason.
    /// </summary>
    ClosedLocally = 2,

    /// <summary>The protocol rejected the input (a malformed frame). The detail holds the protocol's message.</summary>
    ProtocolError = 3,

    /// <summary>A frame declared or grew past the maximum frame size.</summary>
    FrameTooLarge = 4,

    /// <summary>A frame that had started did not complete in time.</summary>
    FrameTimeout = 5,

    /// <summary>Nothing was received for longer than the idle timeout.</summary>
    IdleTimeout = 6,

    /// <summary>The send queue stayed full under <see cref="SlowConsumerPolicy.Disconnect"/>.</summary>
    SlowConsumer = 7,

    /// <summary>The server is stopping.</summary>
    ServerStopping = 8,

    /// <summary>User code (a handler callback or the protocol) threw. The exception went to <c>OnConnectionError</c>.</summary>
    HandlerError = 9,

    /// <summary>
    /// This side reset the connection (RST), dropping what was queued: <see cref="TcpConnection{TMessage}.Abort(string)"/>, or
    /// the connection's transport was torn down here. A reset by the peer is <see cref="Reset"/>.
    /// </summary>
    Aborted = 10,
}
