namespace CbuffTcp;

/// <summary>The lifecycle state of a <see cref="TcpServer{TMessage}"/>, as in the seed's <c>ServerStatus</c>.</summary>
public enum ServerStatus
{
    /// <summary>Not listening. The only state from which <c>StartAsync</c> is allowed.</summary>
    Closed = 0,

    /// <summary><c>StartAsync</c> is binding the listener.</summary>
    Starting = 1,

    /// <summary>Accepting clients. The only state from which <c>StopAsync</c> is allowed.</summary>
    Running = 2,

    /// <summary><c>StopAsync</c> is draining and closing clients.</summary>
    Stopping = 3,
}
