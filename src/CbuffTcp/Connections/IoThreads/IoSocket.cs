using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// A plain socket served by an <see cref="IoLoop"/>: non-blocking calls, and readiness from the loop's epoll instead
/// of the runtime's socket engine (no thread-pool hop per read). Reads and writes go straight to <c>recv</c>,
/// <c>send</c> and <c>sendmsg</c>, never through the socket's own methods, so the runtime never registers it with its
/// engine nor builds its async context.
/// </summary>
internal sealed class IoSocket : ConnectionTransport
{
    // The descriptor: an accepted socket's, taken over from its Socket at once (SocketDescriptor); a client's, once its
    // connect has completed (the connect itself goes through the Socket, whose handle this is until then).
    private SafeHandle _handle;
    private readonly IoLoop _loop;
    private readonly ReadinessSignal _readable = new();

    // Made by the first send that finds the socket's buffer full (or by a connect): most sockets never wait to write.
    private ReadinessSignal? _writable;
    private int _closed;
    private volatile bool _hungUp;

    /// <summary>Who hears it when an I/O thread is stuck in this socket's event: its connection.</summary>
    public IBlockedThreadObserver? Observer { get; set; }

    public IoSocket(Socket socket)
        : this(socket, IoLoops.Next())
    {
    }

    /// <summary>On a given loop (tests use loops of their own).</summary>
    public IoSocket(Socket socket, IoLoop loop)
        : this(socket, loop, connected: true)
    {
    }

    private IoSocket(Socket socket, IoLoop loop, bool connected)
        : base(connected ? socket.RemoteEndPoint : null, connected ? SharedLocalEndPoints.Of(socket.LocalEndPoint) : null)
    {
        // It stays in blocking mode: each call here is non-blocking by its flags (SocketCalls).
        _handle = socket.SafeHandle;
        _loop = loop;
        _loop.Register(this, (int)_handle.DangerousGetHandle());
        if (connected)
        {
            _handle = SocketDescriptor.TakeFrom(socket); // after the registration: if that throws, the caller still owns the socket
        }
    }

    /// <summary>
    /// Connects a new socket to <paramref name="endPoint"/> on an I/O thread's epoll alone: the connect is started
    /// non-blocking before the socket is registered (an unconnected socket would report a hang-up), and its completion
    /// is the first writable edge. The runtime's socket engine never sees the socket. A host name is tried address by address.
    /// </summary>
    public static async Task<IoSocket> ConnectAsync(EndPoint endPoint, bool noDelay, CancellationToken cancellationToken)
    {
        if (endPoint is not DnsEndPoint dns)
        {
            return await ConnectOneAsync(endPoint, noDelay, cancellationToken).ConfigureAwait(false);
        }

        var addresses = await System.Net.Dns.GetHostAddressesAsync(dns.Host, cancellationToken).ConfigureAwait(false);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await ConnectOneAsync(new IPEndPoint(address, dns.Port), noDelay, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                last = ex;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    private static async Task<IoSocket> ConnectOneAsync(EndPoint endPoint, bool noDelay, CancellationToken cancellationToken)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = noDelay };
        IoSocket? ioSocket = null;
        try
        {
            socket.Blocking = false;
            try
            {
                socket.Connect(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                // Under way: its completion (or failure) is the socket's first writable edge.
            }

            ioSocket = new IoSocket(socket, IoLoops.Next(), connected: false);
            var writable = ioSocket.WritableSignal();
            using (cancellationToken.UnsafeRegister(static s => ((IoSocket)s!).Dispose(), ioSocket))
            {
                while (!socket.Poll(0, SelectMode.SelectWrite) && !cancellationToken.IsCancellationRequested)
                {
                    var snapshot = writable.Snapshot();
                    if (socket.Poll(0, SelectMode.SelectWrite))
                    {
                        break;
                    }

                    writable.Drained(snapshot);
                    await writable.WaitAsync().ConfigureAwait(false);
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error and not 0)
            {
                throw new SocketException(error);
            }

            ioSocket._hungUp = false;
            ioSocket.RemoteEndPoint = socket.RemoteEndPoint ?? endPoint;
            ioSocket.LocalEndPoint = socket.LocalEndPoint;
            ioSocket._handle = SocketDescriptor.TakeFrom(socket); // connected: the Socket is done with
            return ioSocket;
        }
        catch (ObjectDisposedException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken); // the registration closed it to end the wait
        }
        catch
        {
            if (ioSocket is not null)
            {
                ioSocket.Dispose();
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>This socket's tag in its loop's epoll (slot and generation).</summary>
    public ulong Token { get; set; }

    /// <summary>On the I/O thread: what epoll reported. Hang-ups and errors wake both sides; each then meets the error.</summary>
    public void OnEvents(uint events)
    {
        if ((events & (EpollInterop.ReadHup | EpollInterop.Hup | EpollInterop.Err)) != 0)
        {
            _hungUp = true; // before the signal: a reader it wakes must see it
        }

        if ((events & (EpollInterop.In | EpollInterop.ReadHup | EpollInterop.Hup | EpollInterop.Err)) != 0)
        {
            _readable.Signal();
        }

        if ((events & (EpollInterop.Out | EpollInterop.Hup | EpollInterop.Err)) != 0)
        {
            Volatile.Read(ref _writable)?.Signal(); // without one, no send waits: the edge has no one to tell
        }
    }

    public override ValueTask<int> WaitForDataAsync() => _readable.WaitAsync();

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        var snapshot = _readable.Snapshot();
        var received = SocketCalls.Receive(_handle, buffer.Span, out var error);
        switch (error)
        {
            case SocketError.Success:
                if (received < buffer.Length && !_hungUp)
                {
                    // A short read took all there was: more data will come with an edge of its own, so the next wait
                    // need not cost a read that finds nothing (an edge for bytes this read already took costs one).
                    // Not after a hang-up: the end of the stream (or an error) is still to be read, and brings no edge.
                    _readable.Drained(snapshot);
                }

                return new ValueTask<int>(received);
            case SocketError.WouldBlock:
                _readable.Drained(snapshot);
                return new ValueTask<int>(NothingYet);
            default:
                throw new SocketException((int)error);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var writable = Volatile.Read(ref _writable);
            var snapshot = writable?.Snapshot() ?? 0;
            var sent = SocketCalls.Send(_handle, buffer.Span, out var error);
            if (error == SocketError.Success)
            {
                buffer = buffer[sent..];
                continue;
            }

            if (error != SocketError.WouldBlock)
            {
                throw new SocketException((int)error);
            }

            await WritableAsync(writable, snapshot).ConfigureAwait(false);
        }
    }

    public override IoSocket IoThreadSocket => this;

    public override bool GathersSends => true;

    /// <summary>A write pass of several arrays: one <c>sendmsg</c> for them all (up to <see cref="GatheredSend.MaxSegments"/>).</summary>
    public override ValueTask SendAsync(SendSegment[] segments, int count) =>
        count == 1 ? SendAsync(segments[0].Memory) : SendGatheredAsync(segments, count);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendGatheredAsync(SendSegment[] segments, int count)
    {
        var first = 0;  // the first array not wholly sent
        var offset = 0; // how much of it is
        while (first < count)
        {
            var writable = Volatile.Read(ref _writable);
            var snapshot = writable?.Snapshot() ?? 0;
            var sent = GatheredSend.Send(_handle, segments.AsSpan(first, count - first), offset, out var errno);
            if (sent >= 0)
            {
                for (offset += (int)sent; first < count && offset >= segments[first].Length; first++)
                {
                    offset -= segments[first].Length;
                }

                continue;
            }

            if (errno == SocketCalls.Interrupted)
            {
                continue;
            }

            if (errno != SocketCalls.WouldBlock)
            {
                throw new SocketException((int)SocketCalls.ErrorOf(errno));
            }

            await WritableAsync(writable, snapshot).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A send found the socket's buffer full: waits for the peer to take some (an EPOLLOUT edge since
    /// <paramref name="snapshot"/>). Without a signal yet, it makes one and returns at once: edges count from now, so the
    /// send tries again before it waits for one.
    /// </summary>
    private ValueTask<int> WritableAsync(ReadinessSignal? writable, long snapshot)
    {
        if (writable is null)
        {
            WritableSignal();
            return new ValueTask<int>(0);
        }

        writable.Drained(snapshot);
        return writable.WaitAsync();
    }

    /// <summary>
    /// The writable direction's signal, made on first need. Edges before it existed went uncounted, so whoever makes it
    /// tries the socket again before waiting. Made after a close, it is never signalled; but then the socket's calls
    /// fail, so no one waits on it.
    /// </summary>
    private ReadinessSignal WritableSignal()
    {
        var created = new ReadinessSignal();
        return Interlocked.CompareExchange(ref _writable, created, null) ?? created;
    }

    /// <summary>A FIN; epoll reports the hang-up, so a waiting read wakes.</summary>
    public override void Shutdown() => (_handle as SocketDescriptor)?.Shutdown(); // a client's, still connecting: nothing to shut down

    public override void Abort()
    {
        if (_handle is SocketDescriptor descriptor)
        {
            descriptor.Reset();
        }
        else
        {
            _handle.Dispose(); // a client's connect, abandoned: the runtime's handle closes with a reset
        }

        Closed();
    }

    public override void Dispose()
    {
        _handle.Dispose(); // a FIN, unless a reset came first
        Closed();
    }

    /// <summary>The descriptor is closed, so epoll will say nothing more: wake whoever waits, to meet the closed socket.</summary>
    private void Closed()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _loop.Unregister(this);
        _readable.SignalClosed();
        Volatile.Read(ref _writable)?.SignalClosed();
    }
}
