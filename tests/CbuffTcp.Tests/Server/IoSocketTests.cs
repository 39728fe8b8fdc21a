using CbuffTcp.Connections;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// A socket on CbuffTcp's I/O threads: a wait ends when data, the end of the stream, a reset or a local close comes,
/// and not before; a short read counts as drained without hiding a hang-up that came with it; a send to a full socket
/// waits for room and completes once the peer reads.
/// </summary>
public sealed class IoSocketTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private Socket _peer = null!;
    private Socket _accepted = null!;
    private IoSocket _socket = null!;

    public async Task InitializeAsync()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1);
        _peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 64 * 1024 };
        await _peer.ConnectAsync(_listener.LocalEndPoint!);
        _accepted = await _listener.AcceptAsync();
        _accepted.NoDelay = true; // as the server sets it: without, Nagle and delayed ACKs crawl through a small window

        // A small send buffer, or the kernel takes a whole test's sends at once and no send ever waits. Set before the
        // I/O socket takes the descriptor over: the Socket is done with after that.
        _accepted.SendBufferSize = 16 * 1024;
        _socket = new IoSocket(_accepted);
    }

    public Task DisposeAsync()
    {
        _socket?.Dispose();
        _peer?.Dispose();
        _listener.Dispose();
        return Task.CompletedTask;
    }

    [IoThreadsFact]
    public async Task A_wait_ends_when_data_comes_and_a_short_read_then_waits_for_the_next()
    {
        var buffer = new byte[64];
        var waiting = _socket.WaitForDataAsync().AsTask();
        Assert.False(await Completes(waiting, Quiet), "the wait ended before anything was sent");

        await _peer.SendAsync("hello"u8.ToArray());
        Assert.True(await Completes(waiting, Timeout));
        var received = TransportReads.Now(_socket, buffer);
        Assert.Equal("hello"u8.ToArray(), buffer[..received]);

        // The read was short: it took all there was, so the next wait waits (no read that finds nothing).
        var next = _socket.WaitForDataAsync().AsTask();
        Assert.False(await Completes(next, Quiet), "the wait after a draining read ended with nothing sent");
        await _peer.SendAsync("again"u8.ToArray());
        Assert.True(await Completes(next, Timeout));
        received = TransportReads.Now(_socket, buffer);
        Assert.Equal("again"u8.ToArray(), buffer[..received]);
    }

    [IoThreadsFact]
    public async Task Data_and_the_end_of_the_stream_in_one_edge_give_the_data_then_the_end()
    {
        await _peer.SendAsync("last words"u8.ToArray());
        _peer.Shutdown(SocketShutdown.Send);
        await Task.Delay(Quiet); // both arrive before the socket is read: one edge for the two

        var buffer = new byte[64];
        await _socket.WaitForDataAsync().AsTask().WaitAsync(Timeout);
        var received = TransportReads.Now(_socket, buffer);
        Assert.Equal("last words"u8.ToArray(), buffer[..received]);

        // The FIN brings no edge of its own: the short read must not count as drained past it.
        await _socket.WaitForDataAsync().AsTask().WaitAsync(Timeout);
        received = TransportReads.Now(_socket, buffer);
        Assert.Equal(0, received);
    }

    [IoThreadsFact]
    public async Task A_reset_by_the_peer_ends_a_wait_and_the_read_reports_it()
    {
        var waiting = _socket.WaitForDataAsync().AsTask();
        _peer.LingerState = new LingerOption(true, 0);
        _peer.Dispose();

        await waiting.WaitAsync(Timeout);
        var error = Assert.Throws<SocketException>(() => TransportReads.Now(_socket, new byte[64]));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }

    [IoThreadsFact]
    public async Task Closing_the_socket_here_ends_a_wait_on_it()
    {
        var waiting = _socket.WaitForDataAsync().AsTask();
        Assert.False(await Completes(waiting, Quiet));

        _socket.Dispose(); // closing a descriptor removes it from epoll silently: the socket must wake its waiter itself

        await waiting.WaitAsync(Timeout);
        Assert.Throws<ObjectDisposedException>(() => TransportReads.Now(_socket, new byte[64]));
    }

    [IoThreadsFact]
    public async Task A_send_to_a_full_socket_waits_for_room_and_completes_once_the_peer_reads()
    {
        var payload = new byte[32 * 1024 * 1024]; // far more than both kernel buffers hold
        Random.Shared.NextBytes(payload);

        var sending = _socket.SendAsync(payload).AsTask();
        Assert.False(await Completes(sending, Quiet), "32 MiB fitted in the socket buffers: the test proves nothing");

        var received = new byte[payload.Length];
        var total = 0;
        using var deadline = new CancellationTokenSource(Timeout);
        while (total < received.Length)
        {
            total += await _peer.ReceiveAsync(received.AsMemory(total), deadline.Token);
        }

        await sending.WaitAsync(Timeout);
        Assert.Equal(payload, received);
    }

    [IoThreadsFact]
    public async Task A_gathered_send_of_many_arrays_arrives_whole_and_in_order_through_a_full_socket()
    {
        // 40 arrays (more than one sendmsg takes), 1 byte to 200 KB, 3 MB in all: partial sends end inside arrays and
        // between them, and the socket fills many times while the peer reads slowly (a small send buffer, or the kernel
        // would take it all at once).
        var random = new Random(11);
        var segments = new SendSegment[40];
        var expected = new List<byte>();
        for (var i = 0; i < segments.Length; i++)
        {
            var length = i % 5 == 0 ? 1 + random.Next(16) : random.Next(1, 200_000);
            var array = new byte[length + random.Next(64)]; // arrays longer than their queued bytes, as pooled ones are
            random.NextBytes(array);
            segments[i] = new SendSegment(array, length);
            expected.AddRange(array.AsSpan(0, length).ToArray());
        }

        var sending = _socket.SendAsync(segments, segments.Length).AsTask();
        var received = new byte[expected.Count];
        var total = 0;
        using var bound = new CancellationTokenSource(Timeout);
        while (total < received.Length)
        {
            var read = await _peer.ReceiveAsync(received.AsMemory(total, Math.Min(7_000, received.Length - total)), SocketFlags.None, bound.Token);
            Assert.NotEqual(0, read);
            total += read;
        }

        await sending.WaitAsync(Timeout);
        Assert.Equal(expected.ToArray(), received);
    }

    [IoThreadsFact]
    public async Task A_gathered_send_to_a_reset_peer_fails_with_the_sockets_error()
    {
        _peer.LingerState = new LingerOption(true, 0);
        _peer.Dispose(); // RST
        await Task.Delay(Quiet);
        var segments = new[] { new SendSegment(new byte[100_000], 100_000), new SendSegment(new byte[100_000], 100_000) };

        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await _socket.SendAsync(segments, segments.Length).AsTask().WaitAsync(Timeout);
            }
        });
        Assert.Contains(error.SocketErrorCode, new[] { SocketError.ConnectionReset, SocketError.Shutdown, SocketError.ConnectionAborted });
    }

    [IoThreadsFact]
    public async Task The_socket_stays_in_blocking_mode_and_still_no_read_or_send_waits()
    {
        // Non-blocking by each call's flags, not by the socket's mode: the runtime builds no async context for it.
        Assert.True(_accepted.Blocking);
        Assert.Equal(ConnectionTransport.NothingYet, TransportReads.Now(_socket, new byte[64]));

        var sending = _socket.SendAsync(new byte[8 * 1024 * 1024]).AsTask(); // fills both buffers: the rest waits for an edge
        Assert.False(await Completes(sending, Quiet), "8 MiB fitted in the socket buffers: the test proves nothing");
        Assert.True(_accepted.Blocking);

        _peer.LingerState = new LingerOption(true, 0);
        _peer.Dispose(); // RST: the waiting send wakes and meets the error
        var error = await Assert.ThrowsAsync<SocketException>(() => sending.WaitAsync(Timeout));
        Assert.Contains(error.SocketErrorCode, new[] { SocketError.ConnectionReset, SocketError.Shutdown, SocketError.ConnectionAborted });
    }

    private static async Task<bool> Completes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;
}
