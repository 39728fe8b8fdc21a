using System.Runtime.CompilerServices;
using System.Net.Sockets;

namespace CbuffTcp.Connections;

internal sealed class SocketTransport : ConnectionTransport
{
    public SocketTransport(Socket socket)
        : base(socket.RemoteEndPoint, socket.LocalEndPoint)
    {
        // Synchronous calls return WouldBlock instead of waiting: TryReceiveAvailable must never block a thread, and a
        // zero-byte wait can complete with nothing left to read (seen under load: threads stuck in a blocking
        // Receive). A TLS connection keeps a blocking socket: NetworkStream refuses a non-blocking one.
        socket.Blocking = false;
        Socket = socket;
    }

    public Socket Socket { get; }

    // A zero-byte receive waits for data without a buffer, so idle connections hold no receive memory (as Kestrel does).
    public override ValueTask<int> WaitForDataAsync() => Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);

    // Its receive is non-blocking and never waits: after a full read, read again before a zero-byte wait (one call fewer).
    public override bool ReceivesWithoutWaiting => true;

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        // The socket is non-blocking: this returns at once, with what is there or WouldBlock (then the caller waits).
        var received = Socket.Receive(buffer.Span, SocketFlags.None, out var error);
        return error switch
        {
            SocketError.Success => new ValueTask<int>(received),
            SocketError.WouldBlock => new ValueTask<int>(NothingYet),
            _ => throw new SocketException((int)error),
        };
    }

    // Pooled builder: a send that has to wait reuses its state machine rather than allocating one.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        // One call normally writes everything; the loop covers partial writes to a full socket buffer.
        while (!buffer.IsEmpty)
        {
            var sent = await Socket.SendAsync(buffer, SocketFlags.None).ConfigureAwait(false);
            buffer = buffer[sent..];
        }
    }

    public override void Shutdown() => SocketClosing.Shutdown(Socket);

    public override void Abort() => SocketClosing.Reset(Socket);

    public override void Dispose() => Socket.Dispose();
}
