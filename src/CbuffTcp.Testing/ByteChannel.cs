using System.Net.Sockets;

namespace CbuffTcp.Testing;

/// <summary>
/// One direction of an in-memory connection: bytes written wait here, up to a capacity (the kernel's socket buffers
/// of a real connection), until read. A writer past the capacity waits for the reader, as a socket's send does; the
/// writer can end the stream (FIN) or both sides can reset it (RST). Not a hot path: one lock, signals as tasks.
/// </summary>
internal sealed class ByteChannel(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _segments = new();
    private int _headOffset;
    private int _length;
    private bool _finished;
    private bool _readerClosed;
    private bool _reset;
    private TaskCompletionSource? _dataOrEnd;
    private TaskCompletionSource? _room;

    /// <summary>Bytes written and not read yet.</summary>
    public int Length
    {
        get
        {
            lock (_lock)
            {
                return _length;
            }
        }
    }

    /// <summary>True once the stream ended for the reader: finished with nothing left, or reset.</summary>
    public bool IsAtEnd
    {
        get
        {
            lock (_lock)
            {
                return _reset || (_finished && _length == 0);
            }
        }
    }

    /// <summary>Completes when there is something to read, the stream has ended, or it was reset.</summary>
    public Task WaitForDataAsync()
    {
        lock (_lock)
        {
            if (_length > 0 || _finished || _reset || _readerClosed)
            {
                return Task.CompletedTask;
            }

            _dataOrEnd ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _dataOrEnd.Task;
        }
    }

    /// <summary>
    /// Copies what is there into <paramref name="buffer"/>: the count, 0 at the end of the stream, or -1 when nothing
    /// is there yet. Throws <see cref="SocketException"/> (connection reset) once the stream was reset.
    /// </summary>
    public int Read(Span<byte> buffer)
    {
        lock (_lock)
        {
            if (_reset)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }

            if (_length == 0)
            {
                return _finished || _readerClosed ? 0 : -1;
            }

            var copied = 0;
            while (copied < buffer.Length && _segments.TryPeek(out var head))
            {
                var count = Math.Min(head.Length - _headOffset, buffer.Length - copied);
                head.AsSpan(_headOffset, count).CopyTo(buffer[copied..]);
                copied += count;
                _headOffset += count;
                if (_headOffset == head.Length)
                {
                    _segments.Dequeue();
                    _headOffset = 0;
                }
            }

            _length -= copied;
            Signal(ref _room);
            return copied;
        }
    }

    /// <summary>Writes all of <paramref name="data"/>, waiting while the channel holds its capacity unread.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task room;
            lock (_lock)
            {
                if (_reset || _readerClosed)
                {
                    throw new SocketException((int)SocketError.ConnectionReset); // as a write to a peer that is gone
                }

                if (_finished)
                {
                    throw new InvalidOperationException("This side has already ended its stream (shut down for sending).");
                }

                var free = capacity - _length;
                if (free > 0)
                {
                    var chunk = data[..Math.Min(free, data.Length)];
                    if (!chunk.IsEmpty)
                    {
                        _segments.Enqueue(chunk.ToArray());
                        _length += chunk.Length;
                        Signal(ref _dataOrEnd);
                    }

                    data = data[chunk.Length..];
                    if (data.IsEmpty)
                    {
                        return;
                    }
                }

                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The writer's FIN: the reader gets what is left, then the end of the stream.</summary>
    public void Finish()
    {
        lock (_lock)
        {
            _finished = true;
            Signal(ref _dataOrEnd);
        }
    }

    /// <summary>The reader is gone (its socket closed): later writes fail, what is unread is dropped.</summary>
    public void CloseReader()
    {
        lock (_lock)
        {
            _readerClosed = true;
            _segments.Clear();
            _length = 0;
            Signal(ref _dataOrEnd);
            Signal(ref _room);
        }
    }

    /// <summary>RST: what is unread is dropped; reads and writes fail with a connection reset from now on.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _reset = true;
            _segments.Clear();
            _length = 0;
            Signal(ref _dataOrEnd);
            Signal(ref _room);
        }
    }

    private static void Signal(ref TaskCompletionSource? waiter)
    {
        waiter?.TrySetResult();
        waiter = null;
    }
}
