using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace CbuffTcp.Connections;

/// <summary>A connection over a stream on a socket: TLS (<see cref="System.Net.Security.SslStream"/>) uses this.</summary>
internal sealed class StreamTransport(Socket socket, Stream stream) : ConnectionTransport(socket.RemoteEndPoint, socket.LocalEndPoint)
{
    // SslStream supports zero-byte reads: it waits on the socket without holding a buffer, as the socket transport does.
    public override ValueTask<int> WaitForDataAsync() => stream.ReadAsync(Memory<byte>.Empty);

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => stream.ReadAsync(buffer);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        await stream.WriteAsync(buffer).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    public override void Shutdown() => SocketClosing.Shutdown(socket);

    public override void Abort()
    {
        stream.Dispose();
        SocketClosing.Reset(socket);
    }

    public override void Dispose()
    {
        stream.Dispose();
        socket.Dispose();
    }
}
