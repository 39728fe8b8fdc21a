using System.Net.Sockets;
using System.Threading.Channels;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>The accept loop never dies: failures are reported once per streak and retried on a doubling backoff.</summary>
public class AcceptFailureTests
{
    [Fact]
    public async Task A_socket_that_fails_before_admission_is_dropped_and_the_accept_loop_carries_on()
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler);
        var real = fixture.Server.AcceptSocket;
        var broken = 0;
        fixture.Server.AcceptSocket = async (listener, cancellationToken) =>
        {
            var socket = await real(listener, cancellationToken);
            if (Interlocked.Exchange(ref broken, 1) == 0)
            {
                socket.Dispose(); // unusable before the server reads its address or sets its options
            }

            return socket;
        };

        using var first = await fixture.ConnectAsync(); // taken by the accept already pending: served
        await handler.WaitForAsync("connected");
        using var dropped = await fixture.ConnectAsync(); // the broken one
        Assert.True(await dropped.WaitForCloseAsync());

        using var after = await fixture.ConnectAsync(); // the accept loop lives on
        await after.SendLengthFrameAsync("still here"u8);
        Assert.Equal("still here"u8.ToArray(), await after.ReadLengthFrameAsync());
        await fixture.Server.StopAsync(); // and stopping does not throw what the broken socket threw
    }

    [Fact]
    public async Task An_unexpected_error_admitting_a_socket_is_reported_and_the_accept_loop_carries_on()
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler);
        var real = fixture.Server.CreateTransport;
        var failed = 0;
        fixture.Server.CreateTransport = (socket, settings) => Interlocked.Exchange(ref failed, 1) == 0
            ? throw new InvalidOperationException("epoll refused the socket") // not a socket error: it used to end the loop silently
            : real(socket, settings);

        await WireClient.AssertRefusedAsync(fixture.EndPoint);
        var report = await handler.WaitForAsync("error");
        Assert.Contains("Admitting a connection from", report.Text, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(report.Error);

        using var after = await fixture.ConnectAsync(); // still accepting, and Running says so truthfully
        await after.SendLengthFrameAsync("still here"u8);
        Assert.Equal("still here"u8.ToArray(), await after.ReadLengthFrameAsync());
        Assert.Equal(ServerStatus.Running, fixture.Server.Status);
        Assert.Equal(0, fixture.Server.RejectedConnections);
    }

    [Fact]
    public async Task Accept_failures_are_reported_once_per_streak_retried_on_a_doubling_backoff_and_accepting_resumes()
    {
        var time = new WatchedClock();
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { TimeProvider = time, IdleTimeout = Timeout.InfiniteTimeSpan, FrameTimeout = Timeout.InfiniteTimeSpan };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        var failing = new FailingAccept(fixture.Server.AcceptSocket);
        fixture.Server.AcceptSocket = failing.AcceptAsync;

        // The accept already pending is a real one: the next one fails, as out of descriptors.
        failing.FailNext(5);
        using var first = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        Assert.Equal(1, await failing.NextAttemptAsync());
        var report = await handler.WaitForAsync("error");
        Assert.Contains("Accepting a connection failed", report.Text, StringComparison.Ordinal);
        Assert.IsType<SocketException>(report.Error);

        // Each retry waits for the backoff on the server's clock (10, 20, 40, 80 ms), never spinning in between. The
        // clock is frozen: a loop that retried on anything but it would show a second attempt in this real-time pause.
        await Task.Delay(100);
        var attempt = 1;
        foreach (var backoff in new[] { 10, 20, 40, 80 })
        {
            await time.TimerSetAsync(TimeSpan.FromMilliseconds(backoff)); // the loop waits on its backoff now
            Assert.False(failing.HasAttemptWaiting, $"attempt {attempt + 1} came before its {backoff} ms backoff elapsed");
            time.Advance(TimeSpan.FromMilliseconds(backoff));
            Assert.Equal(++attempt, await failing.NextAttemptAsync());
        }

        // The sixth attempt is real again: the next client is served, and the streak was reported once.
        await time.TimerSetAsync(TimeSpan.FromMilliseconds(160));
        time.Advance(TimeSpan.FromMilliseconds(160));
        Assert.Equal(6, await failing.NextAttemptAsync());
        using var second = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        Assert.Single(handler.Events, e => e.Kind == "error");

        // A new streak after a success is reported again, and starts over at the shortest backoff.
        failing.FailNext(1);
        using var third = await fixture.ConnectAsync(); // taken by the real accept pending since attempt 6
        await handler.WaitForNthAsync("connected", 3);
        Assert.Equal(7, await failing.NextAttemptAsync());
        await handler.WaitForNthAsync("error", 2);
        await time.TimerSetAsync(TimeSpan.FromMilliseconds(10)); // the shortest backoff again
        time.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(8, await failing.NextAttemptAsync());
        using var fourth = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 4);
        Assert.Equal(2, handler.Events.Count(e => e.Kind == "error"));
    }

    /// <summary>Wraps the real accept: fails the next N calls with "too many open files" and signals every call.</summary>
    private sealed class FailingAccept(Func<Socket, CancellationToken, ValueTask<Socket>> real)
    {
        private readonly Channel<int> _attempts = Channel.CreateUnbounded<int>();
        private int _failuresLeft;
        private int _attempt;

        public bool HasAttemptWaiting => _attempts.Reader.TryPeek(out _);

        public void FailNext(int count) => Volatile.Write(ref _failuresLeft, count);

        public async Task<int> NextAttemptAsync() => await _attempts.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        public ValueTask<Socket> AcceptAsync(Socket listener, CancellationToken cancellationToken)
        {
            _attempts.Writer.TryWrite(Interlocked.Increment(ref _attempt));
            return Interlocked.Decrement(ref _failuresLeft) >= 0
                ? ValueTask.FromException<Socket>(new SocketException((int)SocketError.TooManyOpenSockets))
                : real(listener, cancellationToken);
        }
    }
}
