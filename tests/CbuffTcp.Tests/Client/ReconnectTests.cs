using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Client;

/// <summary>
/// A client with <see cref="TcpClientOptions.Reconnect"/>: backoff with full jitter under a doubling cap, an outbox that
/// holds what is sent while disconnected (bounded, with the send queue's result codes) and sends it first, in order,
/// behind the handler's own reconnect handshake; never after the client's own close; giving up after its attempts.
/// In memory on a fake clock, and over sockets against a <c>cbuff serve</c> that is killed and started again.
/// </summary>
public class ReconnectTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public void Each_attempt_waits_a_random_time_under_a_cap_that_doubles_up_to_the_maximum()
    {
        var options = new ReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(2) };
        var random = new Random(7);
        for (var attempt = 1; attempt <= 12; attempt++)
        {
            var cap = Math.Min(2000, 100 * Math.Pow(2, attempt - 1));
            var delays = Enumerable.Range(0, 2000).Select(_ => options.DelayBefore(attempt, random).TotalMilliseconds).ToList();
            Assert.All(delays, d => Assert.InRange(d, 0, cap));
            Assert.True(delays.Max() > 0.95 * cap, $"attempt {attempt}: the longest of 2000 waits was {delays.Max()} ms under a cap of {cap}");
            Assert.True(delays.Min() < 0.05 * cap, $"attempt {attempt}: the shortest of 2000 waits was {delays.Min()} ms (full jitter starts at zero)");
        }

        Assert.InRange(options.DelayBefore(int.MaxValue, random).TotalMilliseconds, 0, 2000); // no overflow far out
    }

    [Theory]
    [InlineData(-1, 1, 1)]
    [InlineData(100, 50, 1)]
    [InlineData(1, 1, 0)]
    public void Impossible_settings_are_refused_at_connect(int initialMs, int maxMs, int maxAttempts)
    {
        var options = new TcpClientOptions { Reconnect = new ReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(initialMs), MaxDelay = TimeSpan.FromMilliseconds(maxMs), MaxAttempts = maxAttempts } };
        var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), options);
        Assert.Throws<ArgumentOutOfRangeException>(() => client.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1)).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task Messages_sent_while_disconnected_go_out_first_in_order_behind_the_reconnect_handshake_up_to_the_outbox_cap()
    {
        var (time, host, serverHandler, clientHandler, client) = await StartAsync(new ReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1), OutboxMaxMessages = 5 }, login: "login");
        await using var hostLifetime = host;
        await using var clientLifetime = client;
        Assert.Equal(SendResult.Queued, client.Send(Line("before")));
        await serverHandler.WaitUntilAsync(e => serverHandler.ReceivedBy(1).Any(), what: "the first message");

        await host.StopAsync().WaitAsync(Bound);
        var first = await clientHandler.NextAttemptAsync();
        Assert.Equal(1, first.Attempt);
        Assert.Null(first.LastError);
        Assert.InRange(first.Delay, TimeSpan.Zero, TimeSpan.FromMilliseconds(100));
        Assert.False(client.IsConnected);

        // While the server is down: five fit the outbox, the sixth is refused as a full send queue would refuse it.
        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(SendResult.Queued, client.Send(Line($"m{i}")));
        }

        Assert.Equal(SendResult.QueueFull, client.Send(Line("m6")));
        Assert.Equal(5, client.OutboxMessages);

        // The first attempt meets a stopped server: refused, and the next waits under twice the cap.
        await time.AdvanceOnceSetAsync(first.Delay);
        var second = await clientHandler.NextAttemptAsync();
        Assert.Equal(2, second.Attempt);
        Assert.IsType<SocketException>(second.LastError);
        Assert.InRange(second.Delay, TimeSpan.Zero, TimeSpan.FromMilliseconds(200));

        await host.Server.StartWithoutListenerAsync(host.EndPoint).WaitAsync(Bound);
        await time.AdvanceOnceSetAsync(second.Delay);
        var reconnected = await clientHandler.WaitForReconnectedAsync();
        Assert.Equal(2, reconnected.Attempts);
        Assert.Equal(SendResult.Queued, client.Send(Line("after")));

        var id = (await serverHandler.WaitForNthAsync("connected", 2)).ClientId; // the server's id for the new connection
        await serverHandler.WaitUntilAsync(_ => Texts(serverHandler, id).Length == 7, what: "login, five from the outbox, one after");
        Assert.Equal(["login", "m1", "m2", "m3", "m4", "m5", "after"], Texts(serverHandler, id));
        Assert.Equal(0, client.OutboxMessages);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task The_clients_own_close_is_not_a_loss_it_does_not_reconnect()
    {
        var (time, host, _, clientHandler, client) = await StartAsync(new ReconnectOptions());
        await using var hostLifetime = host;

        await client.CloseAsync("done").WaitAsync(Bound); // Completion: over, with nothing left to reconnect
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(clientHandler.Attempts);
        Assert.Equal(SendResult.Closed, client.Send(Line("late")));
    }

    [Fact]
    public async Task A_handler_that_closes_its_own_connection_is_not_reconnected()
    {
        var (_, host, _, clientHandler, client) = await StartAsync(new ReconnectOptions());
        await using var hostLifetime = host;

        client.Connection!.Close("handler is done");
        await client.Completion.WaitAsync(Bound);
        Assert.Empty(clientHandler.Attempts);
    }

    [Fact]
    public async Task Closing_during_the_wait_stops_reconnecting_at_once_and_drops_the_outbox()
    {
        var (time, host, _, clientHandler, client) = await StartAsync(new ReconnectOptions { InitialDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1) });
        await using var hostLifetime = host;
        await host.StopAsync().WaitAsync(Bound);
        await clientHandler.NextAttemptAsync();
        Assert.Equal(SendResult.Queued, client.Send(Line("never sent")));

        await client.CloseAsync().WaitAsync(Bound); // the clock never moves: the wait itself must end
        Assert.Equal(0, client.OutboxMessages);
        Assert.Equal(SendResult.Closed, client.Send(Line("late")));
    }

    [Fact]
    public async Task After_its_attempts_it_gives_up_says_so_and_drops_the_outbox()
    {
        var (time, host, _, clientHandler, client) = await StartAsync(new ReconnectOptions { MaxAttempts = 3 });
        await using var hostLifetime = host;
        await host.StopAsync().WaitAsync(Bound);
        for (var i = 1; i <= 3; i++)
        {
            var attempt = await clientHandler.NextAttemptAsync();
            Assert.Equal(i, attempt.Attempt);
            if (i == 1)
            {
                client.Send(Line("a"));
                client.Send(Line("b"));
            }

            await time.AdvanceOnceSetAsync(attempt.Delay);
        }

        var failed = await clientHandler.WaitForFailedAsync();
        Assert.Equal((3, 2), (failed.Attempts, failed.Dropped));
        Assert.IsType<SocketException>(failed.LastError);
        await client.Completion.WaitAsync(Bound);
        Assert.Equal(SendResult.Closed, client.Send(Line("late")));
    }

    [Fact]
    public async Task With_the_outbox_off_sends_while_disconnected_fail_fast_and_the_client_still_reconnects()
    {
        var (time, host, serverHandler, clientHandler, client) = await StartAsync(new ReconnectOptions { OutboxMaxBytes = 0 });
        await using var hostLifetime = host;
        await using var clientLifetime = client;
        await host.StopAsync().WaitAsync(Bound);
        var attempt = await clientHandler.NextAttemptAsync();

        Assert.Equal(SendResult.Closed, client.Send(Line("dropped")));
        await host.Server.StartWithoutListenerAsync(host.EndPoint).WaitAsync(Bound);
        await time.AdvanceOnceSetAsync(attempt.Delay);
        await clientHandler.WaitForReconnectedAsync();
        Assert.Equal(SendResult.Queued, client.Send(Line("back")));
        var id = (await serverHandler.WaitForNthAsync("connected", 2)).ClientId;
        await serverHandler.WaitUntilAsync(_ => Texts(serverHandler, id).Length == 1, what: "the message after the reconnect");
        Assert.Equal(["back"], Texts(serverHandler, id));
    }

    [Fact]
    public async Task A_client_survives_cbuff_serve_killed_and_restarted_and_what_it_sent_meanwhile_arrives_once_in_order()
    {
        var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo");
        var port = serve.EndPoint.Port;
        var clientHandler = new ReconnectingHandler();
        var options = new TcpClientOptions { Reconnect = new ReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(200), OutboxMaxMessages = 300 } };
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler, options);
        try
        {
            await client.ConnectAsync(serve.EndPoint);
            Assert.Equal(SendResult.Queued, client.Send(Line("before")));
            await clientHandler.WaitUntilAsync(_ => clientHandler.ReceivedBy(1).Any(), what: "the echo before the outage");

            serve.Kill(); // SIGKILL: no goodbye; the kernel resets the connection
            await clientHandler.WaitForAsync("disconnected");
            var results = Enumerable.Range(0, 310).Select(i => client.Send(Line($"outage {i}"))).ToList();
            Assert.All(results.Take(300), r => Assert.Equal(SendResult.Queued, r));
            Assert.All(results.Skip(300), r => Assert.Equal(SendResult.QueueFull, r));
        }
        finally
        {
            await serve.DisposeAsync();
        }

        await using var restarted = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await clientHandler.WaitForReconnectedAsync(timeoutSeconds: 30);

        // While the port was free, another test's process may have taken it for a moment, and a reconnect attempt reached
        // that one and was closed (seen once in a full CI run): count the echoes of every connection after the first.
        string[] AfterTheOutage() => [.. clientHandler.Events.Where(e => e.Kind == "received" && e.ClientId != 1).SelectMany(e => e.Messages).Select(b => Encoding.UTF8.GetString(b))];
        await clientHandler.WaitUntilAsync(_ => AfterTheOutage().Length >= 300, timeoutSeconds: 30, what: "300 echoes");
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"outage {i}"), AfterTheOutage());
    }

    /// <summary>An in-memory server (recording what it receives) and a connected client with reconnect on, on a fake clock.</summary>
    private static async Task<(WatchedClock Time, InMemoryServer<ReadOnlySequence<byte>> Host, RecordingHandler ServerHandler, ReconnectingHandler ClientHandler, TcpClient<ReadOnlySequence<byte>> Client)> StartAsync(ReconnectOptions reconnect, string? login = null)
    {
        var time = new WatchedClock();
        var serverHandler = new RecordingHandler();
        var host = await InMemoryServer.StartAsync(new LineProtocol(), serverHandler);
        var clientHandler = new ReconnectingHandler(login);
        var client = await host.ConnectClientAsync(clientHandler, new TcpClientOptions { Reconnect = reconnect, TimeProvider = time });
        await clientHandler.WaitForAsync("connected");
        return (time, host, serverHandler, clientHandler, client);
    }

    private static byte[] Line(string text) => Encoding.UTF8.GetBytes(text);

    private static string[] Texts(RecordingHandler handler, long clientId) => [.. handler.ReceivedBy(clientId).Select(b => Encoding.UTF8.GetString(b))];

    /// <summary>Records reconnect events too; after a reconnect, optionally sends a login before the outbox drains.</summary>
    private sealed class ReconnectingHandler(string? login = null) : RecordingHandler, IReconnectHandler<ReadOnlySequence<byte>>
    {
        private readonly ConcurrentQueue<ReconnectAttempt> _attempts = new();
        private readonly SemaphoreSlim _attempted = new(0);
        private readonly TaskCompletionSource<(long ClientId, int Attempts)> _reconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<(int Attempts, Exception? LastError, int Dropped)> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _taken;

        public IReadOnlyList<ReconnectAttempt> Attempts => [.. _attempts];

        public async Task<ReconnectAttempt> NextAttemptAsync()
        {
            Assert.True(await _attempted.WaitAsync(Bound), "no reconnect attempt");
            return _attempts.ElementAt(_taken++);
        }

        public async Task<(long ClientId, int Attempts)> WaitForReconnectedAsync(double timeoutSeconds = 10)
        {
            try
            {
                return await _reconnected.Task.WaitAsync(TimeSpan.FromSeconds(timeoutSeconds));
            }
            catch (TimeoutException)
            {
                // What the client tried, for a failure seen once in CI: an attempt that failed after all, or none.
                var tried = string.Join("; ", _attempts.Select(a => $"attempt {a.Attempt} after {a.Delay.TotalMilliseconds} ms, last error: {a.LastError?.Message ?? "none"}"));
                throw new TimeoutException($"no reconnect within {timeoutSeconds} s. Attempts: {tried}");
            }
        }

        public Task<(int Attempts, Exception? LastError, int Dropped)> WaitForFailedAsync() => _failed.Task.WaitAsync(Bound);

        public ValueTask OnReconnectingAsync(ReconnectAttempt attempt)
        {
            _attempts.Enqueue(attempt);
            _attempted.Release();
            return ValueTask.CompletedTask;
        }

        public ValueTask OnReconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, int attempts)
        {
            // A refusal fails the wait with its reason (an assert here would only reach the client's error report).
            if (login is not null && connection.Send(Line(login)) is var sent and not SendResult.Queued)
            {
                _reconnected.TrySetException(new InvalidOperationException($"the login after the reconnect was refused: {sent}"));
                return ValueTask.CompletedTask;
            }

            _reconnected.TrySetResult((connection.Id, attempts));
            return ValueTask.CompletedTask;
        }

        public ValueTask OnReconnectFailedAsync(int attempts, Exception? lastError, int droppedMessages)
        {
            _failed.TrySetResult((attempts, lastError, droppedMessages));
            return ValueTask.CompletedTask;
        }
    }
}
