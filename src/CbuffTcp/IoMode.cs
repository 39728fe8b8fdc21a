namespace CbuffTcp;

/// <summary>Which threads wait on a connection's socket and run its reads, handler calls and replies.</summary>
public enum IoMode
{
    /// <summary>
    /// The default: <see cref="IoThreads"/> where they run (Linux on x86-64 or Arm64), <see cref="ThreadPool"/>
    /// elsewhere, without a warning. Handlers must follow the rule of <see cref="IoThreads"/>: never block.
    /// </summary>
    Auto,

    /// <summary>
    /// The runtime's socket engine: each completed read continues on the .NET thread pool. A handler that blocks holds
    /// one pool thread and the pool grows around it: the escape for handlers that must block and cannot use
    /// <see cref="TcpConnectionOptions.AsyncReceive"/>.
    /// </summary>
    ThreadPool,

    /// <summary>
    /// CbuffTcp's own I/O threads, one per core (Linux; elsewhere this falls back to <see cref="ThreadPool"/> with a
    /// warning). Each waits on its sockets with an edge-triggered epoll and runs a ready connection's read, decode,
    /// handler call and replies itself, with no hand-off to the thread pool: less CPU and latency per message. The
    /// price: a handler must not block, since that stalls every connection of its I/O thread (await real I/O, or turn
    /// on <see cref="TcpConnectionOptions.AsyncReceive"/> for handlers that take long); a callback that stays longer
    /// than <see cref="TcpConnectionOptions.BlockedThreadWarning"/> is reported. A server's TLS connections run here too (the
    /// handshake and its certificate callbacks included, which must not block either); a client's use the thread pool.
    /// After its last event an I/O thread checks for more for 50 microseconds, yielding its core between checks, before
    /// it sleeps (the process-wide runtime setting <c>CbuffTcp.IoThreads.SpinMicroseconds</c>, 0 to 1000; 0 turns it off).
    /// </summary>
    IoThreads,
}
