using System.Net.Sockets;
using System.Runtime.CompilerServices;
using CbuffTcp.Connections.IoThreads;

namespace CbuffTcp.Connections;

/// <summary>
/// A connection over a stream on a socket: TLS (<see cref="System.Net.Security.SslStream"/>) uses this, over the runtime's
/// socket (the thread-pool mode) or over an I/O thread's (<see cref="IoSocketStream"/>).
/// </summary>
internal sealed class StreamTransport : ConnectionTransport
{
    private readonly Stream _stream;
    private readonly Socket? _socket;     // the runtime's socket under the stream, or
    private readonly IoSocket? _ioSocket; // an I/O thread's

    public StreamTransport(Socket socket, Stream stream)
        : base(socket.RemoteEndPoint, socket.LocalEndPoint)
    {
        _socket = socket;
        _stream = stream;
    }

    public StreamTransport(IoSocket socket, Stream stream)
        : base(socket.RemoteEndPoint, socket.LocalEndPoint)
    {
        _ioSocket = socket;
        _stream = stream;
    }

    public override IoSocket? IoThreadSocket => _ioSocket;

    /// <summary>
    /// The most a write pass hands the stream at once: under SslStream's largest record payload (16,354 bytes on every
    /// platform's defaults), so each write is one record.
    /// </summary>
    public const int JoinedLength = 16_000;

    // SslStream supports zero-byte reads: it waits on the socket without holding a buffer, as the socket transport does.
    public override ValueTask<int> WaitForDataAsync() => _stream.ReadAsync(Memory<byte>.Empty);

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => _stream.ReadAsync(buffer);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        await _stream.WriteAsync(buffer).ConfigureAwait(false);
        await _stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// SslStream encrypts each write into records and sends them at once, so a pass's arrays (a burst's grow 4, 8,
    /// 16 KiB...) would each be a record and a send of their own: a pass of 16 replies of 1 KiB was three. Joined into
    /// writes of up to <see cref="JoinedLength"/> first, it is one record and one send; an array that fills a record
    /// alone goes as it is.
    /// </summary>
    public override ValueTask SendAsync(SendSegment[] segments, int count) =>
        count == 1 ? SendAsync(segments[0].Memory) : SendJoinedAsync(segments, count);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendJoinedAsync(SendSegment[] segments, int count)
    {
        var total = 0;
        for (var i = 0; i < count; i++)
        {
            total += segments[i].Length;
        }

        var joined = ConnectionArrayPool.Default.Rent(Math.Min(total, JoinedLength)); // a pool that takes returns on any thread
        try
        {
            var filled = 0;
            for (var i = 0; i < count; i++)
            {
                var segment = segments[i].Memory;
                if (filled == 0 && segment.Length >= JoinedLength)
                {
                    await _stream.WriteAsync(segment).ConfigureAwait(false);
                    continue;
                }

                while (!segment.IsEmpty)
                {
                    var take = Math.Min(segment.Length, JoinedLength - filled);
                    segment.Span[..take].CopyTo(joined.AsSpan(filled));
                    filled += take;
                    segment = segment[take..];
                    if (filled == JoinedLength)
                    {
                        await _stream.WriteAsync(joined.AsMemory(0, filled)).ConfigureAwait(false);
                        filled = 0;
                    }
                }
            }

            if (filled > 0)
            {
                await _stream.WriteAsync(joined.AsMemory(0, filled)).ConfigureAwait(false);
            }

            await _stream.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            ConnectionArrayPool.Default.Return(joined);
        }
    }

    public override void Shutdown()
    {
        if (_ioSocket is not null)
        {
            _ioSocket.Shutdown();
        }
        else
        {
            SocketClosing.Shutdown(_socket!);
        }
    }

    public override void Abort()
    {
        _ioSocket?.Abort(); // before the stream: disposing that closes the I/O thread's socket with a FIN
        _stream.Dispose();
        if (_socket is not null)
        {
            SocketClosing.Reset(_socket);
        }
    }

    public override void Dispose()
    {
        _stream.Dispose(); // an IoSocketStream disposes its socket
        _socket?.Dispose();
    }
}
