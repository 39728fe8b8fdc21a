using System.Runtime.CompilerServices;
using System.Net.Sockets;

namespace CbuffTcp.Connections;

internal sealed class SocketTransport(Socket socket) : ConnectionTransport
{
    public Socket Socket { get; } = socket;

    // A zero-byte receive waits for data without a buffer, so idle connections hold no receive memory (as Kestrel does).
    public override ValueTask<int> WaitForDataAsync() => Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => Socket.ReceiveAsync(buffer, SocketFlags.None);

    public override bool TryReceiveAvailable(Span<byte> buffer, out int received)
    {
        // Data (or the peer's FIN) is known to be there, so this returns at once: it never blocks the thread.
        received = Socket.Receive(buffer, SocketFlags.None, out var error);
        return error switch
        {
            SocketError.Success => true,
            SocketError.WouldBlock => false,
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
