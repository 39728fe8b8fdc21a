using System.Runtime.CompilerServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// An <see cref="IoSocket"/> as a <see cref="Stream"/>, for <see cref="System.Net.Security.SslStream"/> to run on: a
/// read waits on the I/O thread's readiness and its continuation runs there, so a TLS connection's handshake, reads
/// and decryption take no thread-pool hop, like a plain connection's. A zero-byte read completes with 0, as SslStream expects.
/// </summary>
internal sealed class IoSocketStream(IoSocket socket) : Stream
{
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// A zero-byte read (SslStream's, when the connection waits for data) waits for readiness without a buffer; any other
    /// reads what is there, waiting first when nothing is. The token is not watched: resetting the socket ends a wait.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? socket.WaitForDataAsync() : ReadSomeAsync(buffer);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSomeAsync(Memory<byte> buffer)
    {
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer).ConfigureAwait(false);
            if (received != ConnectionTransport.NothingYet)
            {
                return received;
            }

            await socket.WaitForDataAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Sends all of <paramref name="buffer"/> (SslStream writes a record at a time); the token is not watched, as for reads.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => socket.SendAsync(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("I/O-thread sockets are read asynchronously.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("I/O-thread sockets are written asynchronously.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            socket.Dispose();
        }

        base.Dispose(disposing);
    }
}
