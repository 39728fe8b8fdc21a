using System.Buffers;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>Every operation and event of the seed, over loopback sockets.</summary>
public class OperationTests
{
    private static ReadOnlySequence<byte> Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Events_arrive_connected_then_received_in_order_then_disconnected_once()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using (var client = await fixture.ConnectAsync())
        {
            var frames = Enumerable.Range(0, 50).SelectMany(i => WireClient.LengthFrame(Encoding.UTF8.GetBytes($"m{i}"))).ToArray();
            await client.SendAsync(frames);
            await handler.WaitUntilAsync(_ => handler.ReceivedBy(1).Count() == 50, what: "50 messages");
            var info = fixture.Server.Clients.Single();
            Assert.Equal(1, info.Id);
            Assert.Equal("127.0.0.1", info.RemoteAddress);
        }

        var disconnected = await handler.WaitForAsync("disconnected");
        Assert.Equal(DisconnectReason.RemoteClosed, disconnected.Reason!.Value.Reason);

        var events = handler.For(1).ToList();
        Assert.Equal("connected", events[0].Kind);
        Assert.Equal("disconnected", events[^1].Kind);
        Assert.Single(events, e => e.Kind == "disconnected");
        Assert.All(events.Skip(1).SkipLast(1), e => Assert.Equal("received", e.Kind));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m{i}"), handler.ReceivedBy(1).Select(m => Encoding.UTF8.GetString(m)));
        Assert.Equal(0, fixture.Server.ClientCount);
    }

    [Fact]
    public async Task Messages_of_one_read_arrive_as_one_batch()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        await client.SendAsync(WireClient.LengthFrame("a"u8).Concat(WireClient.LengthFrame("b"u8)).Concat(WireClient.LengthFrame("c"u8)).ToArray());
        await handler.WaitUntilAsync(_ => handler.ReceivedBy(1).Count() == 3);
        // One send of three small frames is one read on loopback: the seed's pPacks.
        Assert.Contains(handler.For(1), e => e.Kind == "received" && e.Messages.Length == 3);
    }

    [Fact]
    public async Task SendToClient_reports_queued_not_found_and_closed()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(1, Bytes("hello")));
        Assert.Equal("hello", Encoding.UTF8.GetString(await client.ReadLengthFrameAsync()));
        Assert.Equal(SendResult.NotFound, fixture.Server.SendToClient(42, Bytes("nobody")));

        Assert.Equal(CloseResult.Closed, fixture.Server.CloseClient(1, "done"));
        var result = fixture.Server.SendToClient(1, Bytes("late"));
        Assert.True(result is SendResult.Closed or SendResult.NotFound, $"got {result}");
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task SendToAllClients_reaches_every_client_and_except_skips_one()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var clients = await fixture.ConnectManyAsync(3);
        Assert.Equal(3, fixture.Server.ClientCount);
        Assert.Equal(new BroadcastResult(3, 0), fixture.Server.SendToAllClients(Bytes("to all")));
        Assert.Equal(new BroadcastResult(2, 0), fixture.Server.SendToAllClientsExcept(2, Bytes("not two")));
        foreach (var (client, index) in clients.Select((c, i) => (c, i)))
        {
            Assert.Equal("to all", Encoding.UTF8.GetString(await client.ReadLengthFrameAsync()));
            var id = fixture.Server.Clients.Single(c => ((System.Net.IPEndPoint)c.RemoteEndPoint!).Port == ((System.Net.IPEndPoint)client.Socket.LocalEndPoint!).Port).Id;
            if (id != 2)
            {
                Assert.Equal("not two", Encoding.UTF8.GetString(await client.ReadLengthFrameAsync()));
            }
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task CloseClient_flushes_what_was_queued_and_its_reason_reaches_OnDisconnected()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(1, Bytes($"n{i}")));
        }

        Assert.Equal(CloseResult.Closed, fixture.Server.CloseClient(1, "kicked by test"));
        Assert.Equal(CloseResult.NotFound, fixture.Server.CloseClient(99, "nobody"));
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal($"n{i}", Encoding.UTF8.GetString(await client.ReadLengthFrameAsync()));
        }

        Assert.True(await client.WaitForCloseAsync());
        var disconnected = await handler.WaitForAsync("disconnected", 1);
        Assert.Equal(new DisconnectInfo(DisconnectReason.ClosedLocally, "kicked by test"), disconnected.Reason);
    }

    [Fact]
    public async Task CloseClients_closes_the_named_clients_only()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var clients = await fixture.ConnectManyAsync(4);
        Assert.Equal(2, fixture.Server.CloseClients([1, 3, 77], "batch"));
        await handler.WaitForNthAsync("disconnected", 2);
        Assert.Equal(2, fixture.Server.ClientCount);
        Assert.Equal([2L, 4L], fixture.Server.Clients.Select(c => c.Id).Order());
        Assert.All(handler.Events.Where(e => e.Kind == "disconnected"), e => Assert.Equal("batch", e.Reason!.Value.Detail));
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task OnSent_reports_each_message_with_its_exact_bytes_when_asked_for()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { NotifySent = true });
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        fixture.Server.SendToClient(1, Bytes("one"));
        fixture.Server.SendToClient(1, Bytes("two"));
        await handler.WaitForNthAsync("sent", 2);
        var sent = handler.Events.Where(e => e.Kind == "sent").ToList();
        Assert.Equal("one", Encoding.UTF8.GetString(sent[0].Messages[0]));
        Assert.Equal(WireClient.LengthFrame("one"u8), sent[0].Messages[1]);
        Assert.Equal("two", Encoding.UTF8.GetString(sent[1].Messages[0]));
    }

    [Fact]
    public async Task A_throwing_handler_closes_only_its_client_and_reports_OnConnectionError()
    {
        var handler = new ThrowOnPoisonHandler();
        await using var fixture = await ServerFixture<ThrowOnPoisonHandler>.StartAsync(handler);
        using var victim = await fixture.ConnectAsync();
        using var bystander = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);

        await victim.SendLengthFrameAsync("poison"u8);
        Assert.True(await victim.WaitForCloseAsync());
        var error = await handler.WaitForAsync("connection-error");
        Assert.IsType<InvalidOperationException>(error.Error);
        var disconnected = await handler.WaitForAsync("disconnected", error.ClientId);
        Assert.Equal(DisconnectReason.HandlerError, disconnected.Reason!.Value.Reason);

        await bystander.SendLengthFrameAsync("fine"u8);
        Assert.Equal("fine", Encoding.UTF8.GetString(await bystander.ReadLengthFrameAsync()));
    }

    [Fact]
    public async Task A_throwing_Pack_is_reported_through_OnError_and_returns_PackFailed()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, protocol: new FixedSizeProtocol(4));
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");
        Assert.Equal(SendResult.PackFailed, fixture.Server.SendToClient(1, Bytes("too long")));
        var error = await handler.WaitForAsync("error");
        Assert.Contains("FixedSizeProtocol.Pack threw", error.Text, StringComparison.Ordinal);
        Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(1, Bytes("four")));
        Assert.Equal("four"u8.ToArray(), await client.ReadExactlyAsync(4));
    }

    [Fact]
    public async Task A_length_header_past_the_limit_closes_that_client_at_once_and_others_keep_working()
    {
        var handler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, protocol: new LengthPrefixedProtocol(maxFrameSize: 1024));
        using var bad = await fixture.ConnectAsync();
        using var good = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);

        await bad.SendAsync(new byte[] { 0x7F, 0xFF, 0xFF, 0xFF });
        Assert.True(await bad.WaitForCloseAsync());
        var disconnected = await handler.WaitForAsync("disconnected");
        Assert.Equal(DisconnectReason.FrameTooLarge, disconnected.Reason!.Value.Reason);
        Assert.Contains("2147483647", disconnected.Reason.Value.Detail, StringComparison.Ordinal);
        var reported = await handler.WaitForAsync("connection-error", disconnected.ClientId);
        Assert.IsType<FrameTooLargeException>(reported.Error);

        var payload = new byte[1024];
        Random.Shared.NextBytes(payload);
        await good.SendLengthFrameAsync(payload);
        Assert.Equal(payload, await good.ReadLengthFrameAsync());
    }

    [Fact]
    public async Task Valid_corrupt_valid_delivers_the_first_closes_at_the_corrupt_one_and_never_delivers_the_third()
    {
        var handler = new RecordingHandler();
        var protocol = new LengthPrefixedProtocol(4, lengthIncludesHeader: true);
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, protocol: protocol);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        // One write, so all three arrive in one read: a length of 2 is less than the 4-byte header it includes.
        byte[] first = [0, 0, 0, 7, (byte)'o', (byte)'n', (byte)'e'];
        byte[] corrupt = [0, 0, 0, 2];
        byte[] third = [0, 0, 0, 9, (byte)'t', (byte)'h', (byte)'i', (byte)'r', (byte)'d'];
        await client.SendAsync(first.Concat(corrupt).Concat(third).ToArray());

        var disconnected = await handler.WaitForAsync("disconnected");
        Assert.Equal(DisconnectReason.ProtocolError, disconnected.Reason!.Value.Reason);
        Assert.Contains("less than the 4-byte header", disconnected.Reason.Value.Detail, StringComparison.Ordinal);
        Assert.Equal(["one"], handler.ReceivedBy(disconnected.ClientId).Select(m => Encoding.UTF8.GetString(m)));
        Assert.IsType<ProtocolException>((await handler.WaitForAsync("connection-error")).Error);
    }

    [Fact]
    public async Task Max_connections_closes_extra_sockets_without_handler_calls()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MaxConnections = 2 });
        using var a = await fixture.ConnectAsync();
        using var b = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", 2);
        // The extra socket is reset as soon as it is accepted: connect itself may already see the reset.
        try
        {
            using var extra = await fixture.ConnectAsync();
            Assert.True(await extra.WaitForCloseAsync());
        }
        catch (System.Net.Sockets.SocketException)
        {
        }

        await handler.WaitUntilAsync(_ => fixture.Server.RejectedConnections == 1, what: "the rejection to be counted");
        Assert.Equal(1, fixture.Server.RejectedConnections);
        Assert.Equal(2, handler.Events.Count(e => e.Kind == "connected"));
    }

    /// <summary>Throws from OnReceived when a message says "poison".</summary>
    public sealed class ThrowOnPoisonHandler : EchoHandler
    {
        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var message in messages)
            {
                if (message.FirstSpan.SequenceEqual("poison"u8))
                {
                    throw new InvalidOperationException("poisoned");
                }
            }

            return base.OnReceivedCoreAsync(connection, messages);
        }
    }
}
