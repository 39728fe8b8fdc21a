using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>Fault 16: stopping under load, twice at once, from inside a handler, and over and over on one port.</summary>
public class GracefulStopTests
{
    [Fact]
    public async Task Stop_delivers_every_queued_message_to_a_thousand_clients_then_closes_each_with_fin()
    {
        const int clients = 1000;
        const int perClient = 100;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var sockets = await fixture.ConnectManyAsync(clients);
        var ids = handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId).ToArray();
        var payload = new byte[8];
        foreach (var id in ids)
        {
            for (var i = 0; i < perClient; i++)
            {
                BinaryPrimitives.WriteInt64BigEndian(payload, (id * perClient) + i);
                Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(id, new ReadOnlySequence<byte>(payload)));
            }
        }

        var reading = sockets.Select(async client =>
        {
            var bytes = await client.ReadExactlyAsync(perClient * 12, TimeSpan.FromSeconds(30));
            var closed = await client.WaitForCloseAsync(TimeSpan.FromSeconds(30));
            return (bytes, closed);
        }).ToArray();
        await fixture.Server.StopAsync();

        var results = await Task.WhenAll(reading);
        for (var c = 0; c < clients; c++)
        {
            var (bytes, closed) = results[c];
            Assert.True(closed, $"client {c} got no FIN");
            var first = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(4)) / perClient * perClient;
            for (var i = 0; i < perClient; i++)
            {
                Assert.Equal(first + i, BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan((i * 12) + 4)));
            }
        }

        Assert.Equal(clients, handler.Events.Count(e => e.Kind == "disconnected" && e.Reason!.Value.Reason == DisconnectReason.ServerStopping));
        sockets.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task Two_stops_at_once_one_stops_the_other_is_told_the_server_is_stopping()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        var first = fixture.Server.StopAsync();
        var second = Record.ExceptionAsync(() => fixture.Server.StopAsync());
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.IsType<InvalidOperationException>(await second);
        Assert.Equal(ServerStatus.Closed, fixture.Server.Status);
        Assert.Single(handler.Events, e => e.Kind == "disconnected");
    }

    [Fact]
    public async Task A_handler_can_stop_the_server_and_awaiting_that_stop_in_the_handler_does_not_deadlock()
    {
        var handler = new StoppingHandler();
        var options = new TcpServerOptions { GracefulStopTimeout = TimeSpan.FromMilliseconds(200) };
        await using var fixture = await ServerFixture<StoppingHandler>.StartAsync(handler, options, new LineProtocol());

        // Fire and forget: the recommended way.
        using (var client = await fixture.ConnectAsync())
        {
            await client.SendLineAsync("stop");
            await handler.WaitForAsync("disconnected");
            await handler.WaitUntilAsync(_ => fixture.Server.Status == ServerStatus.Closed, what: "stopped");
        }

        // Awaited inside the handler: it cannot wait for itself, so it returns after its timeouts, and says why.
        await fixture.Server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using (var client = await fixture.ConnectAsync())
        {
            await client.SendLineAsync("stop and wait");
            await handler.WaitForNthAsync("disconnected", 2);
            await handler.WaitUntilAsync(_ => fixture.Server.Status == ServerStatus.Closed, what: "stopped from inside");
            Assert.Contains(handler.Events, e => e.Kind == "error" && e.Text!.Contains("did not return", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_hundred_start_stop_cycles_rebind_the_same_port_at_once_and_serve_each_time()
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler);
        await fixture.Server.StopAsync();

        // A port outside the ephemeral range: between a stop and the next start, a port-0 port could be taken by any
        // other test's outgoing connection as its local port, which is not what this test is about.
        var endPoint = await StartOnFreePortBelowEphemeralRangeAsync(fixture.Server);
        for (var cycle = 0; cycle < 100; cycle++)
        {
            if (cycle > 0)
            {
                await StartAgainAsync(fixture.Server, endPoint);
            }

            using var client = await WireClient.ConnectAsync(endPoint);
            await client.SendLengthFrameAsync("ping"u8);
            Assert.Equal("ping"u8.ToArray(), await client.ReadLengthFrameAsync());
            await fixture.Server.StopAsync(); // the server closes first: its port, not the client's, holds the TIME_WAIT
            Assert.True(await client.WaitForCloseAsync());
        }

        Assert.Equal(100, handler.Events.Count(e => e.Kind == "disconnected"));
    }

    /// <summary>
    /// Starts on the port just stopped. It failed "address in use" about once in 20 full runs (both suites at once),
    /// with ss showing only TIME_WAIT sockets on the port right after. The likely cause: another test of this process
    /// starting a child (cbuff serve, openssl) forks, and until the child execs it holds a copy of every descriptor,
    /// the closed listener's too, keeping the port in LISTEN for that moment. Retried on that error alone, at most 1 s.
    /// </summary>
    private static async Task StartAgainAsync(TcpServer<ReadOnlySequence<byte>> server, IPEndPoint endPoint)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await server.StartAsync(endPoint);
                return;
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse && attempt < 100)
            {
                await Task.Delay(10);
            }
        }
    }

    private static async Task<IPEndPoint> StartOnFreePortBelowEphemeralRangeAsync(TcpServer<ReadOnlySequence<byte>> server)
    {
        var random = new Random();
        for (var attempt = 0; ; attempt++)
        {
            var endPoint = new IPEndPoint(IPAddress.Loopback, random.Next(20_000, 32_000));
            try
            {
                await server.StartAsync(endPoint);
                return endPoint;
            }
            catch (System.Net.Sockets.SocketException) when (attempt < 50)
            {
            }
        }
    }

    public sealed class StoppingHandler : RecordingHandler
    {
        protected override async ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            var line = System.Text.Encoding.UTF8.GetString(messages[0].ToArray());
            if (line == "stop")
            {
                _ = connection.Server!.StopAsync();
            }
            else if (line == "stop and wait")
            {
                await connection.Server!.StopAsync();
            }
        }
    }
}
