using System.Net.Sockets;

namespace CbuffTcp.Connections;

internal sealed class SocketTransport : ConnectionTransport
{
    // Made at the first send that has to wait: the rest of that write pass goes on through it.
    private SocketSendChain? _sendChain;

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

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer) => SocketSendChain.SendAsync(Socket, ref _sendChain, buffer, null, 0, 0);

    public override ValueTask SendAsync(SendSegment[] segments, int count) => SocketSendChain.SendAsync(Socket, ref _sendChain, segments[0].Memory, segments, 1, count);

    public override void Shutdown() => SocketClosing.Shutdown(Socket);

    public override void Abort() => SocketClosing.Reset(Socket);

    public override void Dispose() => Socket.Dispose();
}
