using System.Net;
using System.Runtime.CompilerServices;

namespace CbuffTcp.Connections;

/// <summary>
/// The byte stream under a connection: all the connection core asks of sockets, TLS streams and the in-memory
/// transport, so each runs the same read, decode and write loops. Six calls: wait for data, receive, send, shut down
/// (FIN), abort (RST), dispose.
/// </summary>
internal abstract class ConnectionTransport(EndPoint? remoteEndPoint, EndPoint? localEndPoint) : IDisposable
{
    /// <summary>The result of <see cref="ReceiveAsync"/> when the data a wait reported has gone after all: wait again.</summary>
    public const int NothingYet = -1;

    /// <summary>The peer's address, as of when the transport was made (a reset socket can no longer tell it).</summary>
    public EndPoint? RemoteEndPoint { get; protected set; } = remoteEndPoint;

    /// <summary>This side's address.</summary>
    public EndPoint? LocalEndPoint { get; protected set; } = localEndPoint;

    /// <summary>Completes when data (or the end of the stream) is available, without holding a buffer while waiting.</summary>
    public abstract ValueTask<int> WaitForDataAsync();

    /// <summary>
    /// Once <see cref="WaitForDataAsync"/> has completed: reads what is available into <paramref name="buffer"/>. 0 means
    /// the peer closed its side; <see cref="NothingYet"/> that nothing is there after all (the caller waits again).
    /// Sockets complete it synchronously, never waiting; TLS may take a moment to decrypt a record.
    /// </summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);

    /// <summary>
    /// True when <see cref="ReceiveAsync"/> never waits (it returns <see cref="NothingYet"/> instead), so after a read
    /// that filled its buffer the next read may come before any wait: one call fewer per read while data keeps coming.
    /// False where a wait is free once data is there (the I/O threads' readiness) or a receive can wait (TLS).
    /// </summary>
    public virtual bool ReceivesWithoutWaiting => false;

    /// <summary>
    /// True when <see cref="SendAsync(SendSegment[], int)"/> writes several arrays in one call: a queue of many arrays
    /// costs no more calls than one of a few, so a broadcast can be queued by reference rather than copied into each
    /// queue's last array (see <see cref="SharedSendBytes"/>).
    /// </summary>
    public virtual bool GathersSends => false;

    /// <summary>The I/O thread's socket this transport runs on, if any: the thread's watchdog names its connection when stuck.</summary>
    public virtual IoThreads.IoSocket? IoThreadSocket => null;

    /// <summary>Writes all of <paramref name="buffer"/>.</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> buffer);

    /// <summary>
    /// Writes the first <paramref name="count"/> of <paramref name="segments"/>, in order: one write pass of the send
    /// queue. This writes them one by one; a transport that can gather them into fewer calls does.
    /// </summary>
    public virtual ValueTask SendAsync(SendSegment[] segments, int count) =>
        count == 1 ? SendAsync(segments[0].Memory) : SendEachAsync(segments, count);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendEachAsync(SendSegment[] segments, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await SendAsync(segments[i].Memory).ConfigureAwait(false);
        }
    }

    /// <summary>Graceful end once output is flushed: FIN in both directions, which also ends a pending receive.</summary>
    public abstract void Shutdown();

    /// <summary>Ends the connection at once (RST), failing any pending receive or send.</summary>
    public abstract void Abort();

    public abstract void Dispose();
}
