using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace CbuffTcp.Testing;

/// <summary>
/// The client's end of an in-memory connection to an <see cref="InMemoryServer{TMessage}"/>, as raw bytes or as
/// messages of the server's protocol: what a socket client would do, without a socket. Every wait is bounded by
/// <see cref="Timeout"/> (a <see cref="TimeoutException"/> says what was awaited), so a test cannot hang.
/// Reads are for one caller at a time.
/// </summary>
/// <typeparam name="TMessage">The server's message type.</typeparam>
public sealed class InMemoryPeer<TMessage> : IDisposable
{
    private readonly InMemoryTransport _transport;
    private readonly IProtocol<TMessage> _protocol;
    private byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;

    internal InMemoryPeer(InMemoryTransport transport, IProtocol<TMessage> protocol, TcpConnection<TMessage>? connection)
    {
        _transport = transport;
        _protocol = protocol;
        Connection = connection;
    }

    /// <summary>The server's side of this connection; null when the server refused it (a connection limit).</summary>
    public TcpConnection<TMessage>? Connection { get; }

    /// <summary>The server's id for this client; 0 when it was refused.</summary>
    public long ClientId => Connection?.Id ?? 0;

    /// <summary>This end's address: what the server sees as the client's.</summary>
    public EndPoint LocalEndPoint => _transport.LocalEndPoint!;

    /// <summary>The longest any read or wait of this peer waits. 10 s unless set.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bytes this peer has written that the server has not read yet (it stops reading when it pauses).</summary>
    public int UnreadByServer => _transport.Unread;

    /// <summary>Writes raw bytes (any part of a frame, or several frames), waiting while the connection's buffer is full.</summary>
    public Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) =>
        Bounded(_transport.SendAsync(bytes).AsTask(), "the server to read what was written", cancellationToken);

    /// <summary>Packs <paramref name="message"/> with the server's protocol and writes it.</summary>
    public Task SendAsync(TMessage message, CancellationToken cancellationToken = default)
    {
        var packed = new ArrayBufferWriter<byte>();
        _protocol.Pack(message, packed);
        return WriteAsync(packed.WrittenMemory, cancellationToken);
    }

    /// <summary>Reads what has arrived into <paramref name="buffer"/>, waiting for something: the count, or 0 at the end of the stream.</summary>
    /// <exception cref="SocketException">The server reset the connection.</exception>
    public async Task<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_end > _start)
        {
            var count = Math.Min(buffer.Length, _end - _start);
            _buffer.AsMemory(_start, count).CopyTo(buffer);
            _start += count;
            return count;
        }

        return await ReadFromTransportAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    /// <exception cref="EndOfStreamException">The stream ended first.</exception>
    public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken = default)
    {
        var result = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await ReadAsync(result.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException($"The connection ended after {filled} of {count} bytes.");
            }

            filled += read;
        }

        return result;
    }

    /// <summary>
    /// Reads the next message the server sent, decoded with its protocol. The message owns its memory: it stays
    /// valid after later reads.
    /// </summary>
    /// <exception cref="EndOfStreamException">The stream ended before a whole message.</exception>
    public async Task<TMessage> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var input = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
            if (_protocol.TryDepack(ref input, out _))
            {
                // Decoded again from a copy of its frame: the message may be a view of the bytes it came from.
                var length = (int)(_end - _start - input.Length);
                var frame = new ReadOnlySequence<byte>(_buffer.AsSpan(_start, length).ToArray());
                _start += length;
                _protocol.TryDepack(ref frame, out var message);
                return message;
            }

            MakeRoom();
            var read = await ReadFromTransportAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException(_end == _start ? "The connection ended before another message." : $"The connection ended inside a message ({_end - _start} bytes of it).");
            }

            _end += read;
        }
    }

    /// <summary>Reads until the server ends the connection, dropping what arrives, and says how it ended.</summary>
    public async Task<ConnectionEnd> WaitForEndAsync(CancellationToken cancellationToken = default)
    {
        _start = _end = 0;
        var scratch = new byte[4096];
        try
        {
            while (await ReadFromTransportAsync(scratch, cancellationToken).ConfigureAwait(false) > 0)
            {
            }

            return ConnectionEnd.Closed;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return ConnectionEnd.Reset;
        }
    }

    /// <summary>Half-closes: the server reads what was written, then the end of the stream; this peer can still read.</summary>
    public void ShutdownSend() => _transport.ShutdownSend();

    /// <summary>Resets the connection (RST), as a client that vanishes does.</summary>
    public void Reset() => _transport.Abort();

    /// <summary>Closes gracefully (FIN), as disposing a socket does.</summary>
    public void Dispose() => _transport.Dispose();

    private async Task<int> ReadFromTransportAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var received = await _transport.ReceiveAsync(buffer).ConfigureAwait(false);
            if (received != InMemoryTransport.NothingYet)
            {
                return received;
            }

            await Bounded(_transport.WaitForDataAsync().AsTask(), "data from the server", cancellationToken).ConfigureAwait(false);
        }
    }

    private void MakeRoom()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        if (_end < _buffer.Length)
        {
            return;
        }

        var held = _end - _start;
        var next = held < _buffer.Length / 2 ? _buffer : new byte[_buffer.Length * 2];
        Buffer.BlockCopy(_buffer, _start, next, 0, held);
        _buffer = next;
        _start = 0;
        _end = held;
    }

    private async Task Bounded(Task task, string what, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // The operation goes on without a waiter (a write into a full buffer fails once the connection ends): observe
            // its end, or its failure would surface later as an unobserved task exception.
            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (ex is TimeoutException)
            {
                throw new TimeoutException($"Waited {Timeout.TotalSeconds:0.###} s for {what}.");
            }

            throw;
        }
    }
}
