using System.Buffers;
using System.Net;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

public class LifecycleTests
{
    [Fact]
    public async Task Status_follows_the_seed_rules_and_port_zero_reports_the_real_port()
    {
        var handler = new RecordingHandler();
        var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler);
        Assert.Equal(ServerStatus.Closed, server.Status);
        Assert.Null(server.LocalEndPoint);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StopAsync());

        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal(ServerStatus.Running, server.Status);
        Assert.NotEqual(0, ((IPEndPoint)server.LocalEndPoint!).Port);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(0));

        using (var client = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint))
        {
            await handler.WaitForAsync("connected");
        }

        await server.StopAsync();
        Assert.Equal(ServerStatus.Closed, server.Status);
        Assert.Null(server.LocalEndPoint);
        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StopAsync());
    }

    [Fact]
    public async Task Port_overload_listens_dual_mode_so_ipv4_loopback_clients_connect()
    {
        var handler = new RecordingHandler();
        var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler);
        await server.StartAsync(0);
        try
        {
            using var client = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint!);
            await handler.WaitForAsync("connected");
            Assert.True(server.TryGetClient(handler.LastConnectedId, out var info));
            Assert.Equal("127.0.0.1", info!.RemoteAddress);
        }
        finally
        {
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task Binding_a_port_in_use_fails_clearly_and_leaves_the_server_closed()
    {
        await using var first = await ServerFixture<RecordingHandler>.StartAsync(new RecordingHandler());
        var second = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), new RecordingHandler());
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => second.StartAsync(first.EndPoint));
        Assert.Equal(ServerStatus.Closed, second.Status);
    }

    [Fact]
    public async Task Invalid_options_are_rejected_at_start()
    {
        var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), new RecordingHandler(), new TcpServerOptions { SendQueueMaxBytes = 0 });
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.Contains("SendQueueMaxBytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(ServerStatus.Closed, server.Status);
    }

    [Fact]
    public async Task Stop_flushes_queued_messages_closes_every_client_and_the_server_starts_again()
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler);
        var clients = await fixture.ConnectManyAsync(5);
        var broadcast = fixture.Server.SendToAllClients(new ReadOnlySequence<byte>("last words"u8.ToArray()));
        Assert.Equal(new BroadcastResult(5, 0), broadcast);

        await fixture.Server.StopAsync();
        Assert.Equal(0, fixture.Server.ClientCount);
        var disconnects = handler.Events.Where(e => e.Kind == "disconnected").ToList();
        Assert.Equal(5, disconnects.Count);
        Assert.All(disconnects, d => Assert.Equal(DisconnectReason.ServerStopping, d.Reason!.Value.Reason));
        foreach (var client in clients)
        {
            Assert.Equal("last words"u8.ToArray(), await client.ReadLengthFrameAsync());
            Assert.True(await client.WaitForCloseAsync());
            client.Dispose();
        }

        var firstIds = handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId).ToHashSet();
        await fixture.Server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        using var again = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 6);
        await again.SendLengthFrameAsync("still here"u8);
        Assert.Equal("still here"u8.ToArray(), await again.ReadLengthFrameAsync());

        // Ids are unique for the server's lifetime, across restarts.
        Assert.DoesNotContain(handler.LastConnectedId, firstIds);
    }

    [Fact]
    public async Task Stop_aborts_a_client_that_will_not_take_its_queue_after_the_timeout()
    {
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { GracefulStopTimeout = TimeSpan.FromMilliseconds(300), CloseFlushTimeout = TimeSpan.FromSeconds(30) };
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var stalled = await fixture.ConnectAsync(receiveBufferSize: 4096);
        await handler.WaitForAsync("connected");
        var id = handler.LastConnectedId;
        var payload = new ReadOnlySequence<byte>(new byte[64 * 1024]);
        var queued = 0L;
        while (queued < 200 && fixture.Server.SendToClient(id, payload) == SendResult.Queued)
        {
            queued++;
        }

        var queuedBytes = queued * (4 + payload.Length);
        Assert.True(queued > 10, $"only {queued} messages queued");

        await fixture.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var disconnected = await handler.WaitForAsync("disconnected", id);
        Assert.Equal(DisconnectReason.ServerStopping, disconnected.Reason!.Value.Reason);

        // Aborted, not flushed: the client sees a reset (or an early end), never the megabytes still queued.
        var received = 0L;
        try
        {
            while (received < queuedBytes)
            {
                received += (await stalled.ReadExactlyAsync(1024)).Length;
            }
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or EndOfStreamException)
        {
        }

        Assert.True(received < queuedBytes, $"received all {received} queued bytes: the stop flushed instead of aborting");
    }
}
