namespace CbuffTcp.Connections;

/// <summary>
/// The byte stream under a connection. The connection core talks only to this seam, so sockets, TLS streams and
/// in-memory pipes (in tests) all run the same read, decode and write loops.
/// </summary>
internal abstract class ConnectionTransport : IDisposable
{
    /// <summary>Completes when data (or the end of the stream) is available, without holding a buffer while waiting.</summary>
    public abstract ValueTask<int> WaitForDataAsync();

    /// <summary>
    /// Reads what is available into <paramref name="buffer"/>; 0 means the peer closed its side. Only for transports
    /// without <see cref="SupportsTryReceive"/>: the others read with <see cref="TryReceiveAvailable"/>.
    /// </summary>
    public virtual ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
        throw new NotSupportedException($"{GetType().Name} reads with {nameof(TryReceiveAvailable)}.");

    /// <summary>
    /// Whether <see cref="TryReceiveAvailable"/> reads (sockets); otherwise reads go through <see cref="ReceiveAsync"/>
    /// (TLS decrypts records asynchronously).
    /// </summary>
    public virtual bool SupportsTryReceive => false;

    /// <summary>
    /// Once <see cref="WaitForDataAsync"/> has completed: reads what is available into <paramref name="buffer"/> at
    /// once, never waiting (0 bytes: the peer closed). False when nothing is there after all: the caller waits again.
    /// </summary>
    public virtual bool TryReceiveAvailable(Span<byte> buffer, out int received)
    {
        received = 0;
        return false;
    }

    /// <summary>Writes all of <paramref name="buffer"/>.</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> buffer);

    /// <summary>Graceful end once output is flushed: FIN in both directions, which also ends a pending receive.</summary>
    public abstract void Shutdown();

    /// <summary>Ends the connection at once (RST), failing any pending receive or send.</summary>
    public abstract void Abort();

    public abstract void Dispose();
}
