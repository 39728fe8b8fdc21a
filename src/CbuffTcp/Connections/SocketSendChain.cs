using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace CbuffTcp.Connections;

/// <summary>
/// A thread-pool socket's write pass from the send that had to wait: finishes it, then sends the pass's remaining
/// arrays, as one reusable operation per connection (made at its first wait).
/// </summary>
/// <remarks>
/// An async method in its place allocated whenever a send waited. The runtime's pooled state machines are cached per
/// thread (and in a slot per thread id modulo the core count): one rented on the thread that started the pass and given
/// back on the thread the socket completed on never came back to the renter, so on a pool with more threads than cores
/// each waiting pass made a new one (CI measured 160 bytes per 20 KB echo). This object is the connection's own.
/// </remarks>
internal sealed class SocketSendChain : IValueTaskSource
{
    private readonly Socket _socket;
    private readonly Action _onSent;
    private ManualResetValueTaskSourceCore<bool> _source; // its continuation runs where the socket completed, as an await's would
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _pending;
    private ReadOnlyMemory<byte> _sending; // what the pending send was given
    private SendSegment[]? _segments;
    private int _next;
    private int _count;

    public SocketSendChain(Socket socket)
    {
        _socket = socket;
        _onSent = OnSent;
    }

    /// <summary>
    /// Sends <paramref name="buffer"/>, then <paramref name="segments"/> from <paramref name="next"/> up to
    /// <paramref name="count"/> (if any): without waiting while every send completes at once; otherwise through the
    /// connection's <paramref name="chain"/>, made here the first time.
    /// </summary>
    public static ValueTask SendAsync(Socket socket, ref SocketSendChain? chain, ReadOnlyMemory<byte> buffer, SendSegment[]? segments, int next, int count)
    {
        while (true)
        {
            var sending = socket.SendAsync(buffer, SocketFlags.None);
            if (!sending.IsCompletedSuccessfully)
            {
                return (chain ??= new SocketSendChain(socket)).Continue(sending, buffer, segments, next, count);
            }

            var sent = sending.Result; // a send completed at once: its event args go back to the socket here
            if (sent < buffer.Length)
            {
                return (chain ??= new SocketSendChain(socket)).Continue(new ValueTask<int>(sent), buffer, segments, next, count); // the rest of a partial send
            }

            if (segments is null || next >= count)
            {
                return default;
            }

            buffer = segments[next++].Memory;
        }
    }

    private ValueTask Continue(ValueTask<int> sending, ReadOnlyMemory<byte> buffer, SendSegment[]? segments, int next, int count)
    {
        _source.Reset();
        _segments = segments;
        _next = next;
        _count = count;
        var version = _source.Version; // read before the send can complete this operation on another thread
        Await(sending, buffer);
        return new ValueTask(this, version);
    }

    private void Await(ValueTask<int> sending, ReadOnlyMemory<byte> buffer)
    {
        _sending = buffer;
        _pending = sending.ConfigureAwait(false).GetAwaiter();
        _pending.UnsafeOnCompleted(_onSent);
    }

    private void OnSent()
    {
        try
        {
            var buffer = _sending[_pending.GetResult()..];
            _pending = default;
            while (true)
            {
                if (buffer.IsEmpty)
                {
                    if (_segments is null || _next >= _count)
                    {
                        break;
                    }

                    buffer = _segments[_next++].Memory;
                    continue;
                }

                var sending = _socket.SendAsync(buffer, SocketFlags.None);
                if (!sending.IsCompletedSuccessfully)
                {
                    Await(sending, buffer);
                    return;
                }

                buffer = buffer[sending.Result..];
            }
        }
        catch (Exception ex)
        {
            _segments = null;
            _source.SetException(ex);
            return;
        }

        _segments = null; // the queue's array: not held past the pass
        _source.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
