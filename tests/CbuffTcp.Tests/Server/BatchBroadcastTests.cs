using System.Buffers;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Broadcasting several messages at once (<c>SendToAllClients(ReadOnlySpan)</c>): every client gets all of them in
/// order or, when its queue cannot take them all, none; the result counts clients; a message whose <c>Pack</c> throws
/// is reported and left out; <c>OnSent</c> still sees each message on its own.
/// </summary>
public class BatchBroadcastTests
{
    private static ReadOnlySequence<byte> Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Waits until every client's <c>OnConnectedAsync</c> has completed (a broadcast skips clients before that): a
    /// connection reads only after it, so a message from each client reaching the handler is the signal.
    /// </summary>
    private static async Task AllReadyAsync(RecordingHandler handler, List<WireClient> clients)
    {
        foreach (var client in clients)
        {
            await client.SendLengthFrameAsync("ready"u8);
        }

        await handler.WaitForNthAsync("received", clients.Count);
    }

    private static async Task<List<WireClient>> ConnectReadyAsync(ServerFixture<RecordingHandler> fixture, int count)
    {
        var clients = await fixture.ConnectManyAsync(count);
        await AllReadyAsync(fixture.Handler, clients);
        return clients;
    }

    private static async Task AssertReceivesAsync(WireClient client, IEnumerable<string> texts)
    {
        foreach (var text in texts)
        {
            Assert.Equal(text, Encoding.UTF8.GetString(await client.ReadLengthFrameAsync()));
        }
    }

    [Fact]
    public async Task A_batch_reaches_every_client_in_order_and_except_skips_one()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var clients = await ConnectReadyAsync(fixture, 3);
        var skipped = fixture.ClientIdOf(clients[1]);

        Assert.Equal(new BroadcastResult(3, 0), fixture.Server.SendToAllClients([Bytes("a"), Bytes("bb"), Bytes("ccc")]));
        Assert.Equal(new BroadcastResult(2, 0), fixture.Server.SendToAllClientsExcept(skipped, [Bytes("d"), Bytes("ee")]));
        Assert.Equal(new BroadcastResult(0, 0), fixture.Server.SendToAllClients(ReadOnlySpan<ReadOnlySequence<byte>>.Empty));
        Assert.Equal(new BroadcastResult(3, 0), fixture.Server.SendToAllClients([Bytes("end")]));

        foreach (var client in clients)
        {
            var expected = client == clients[1] ? new[] { "a", "bb", "ccc", "end" } : ["a", "bb", "ccc", "d", "ee", "end"];
            await AssertReceivesAsync(client, expected);
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_batch_larger_than_a_received_one_arrives_whole_and_in_order()
    {
        // More than 256 messages: their lengths no longer fit on the stack and come from a pool.
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler);
        var clients = await ConnectReadyAsync(fixture, 2);
        var batch = Enumerable.Range(0, 1000).Select(i => Bytes($"m{i}")).ToArray();

        Assert.Equal(new BroadcastResult(2, 0), fixture.Server.SendToAllClients(batch));

        foreach (var client in clients)
        {
            await AssertReceivesAsync(client, Enumerable.Range(0, batch.Length).Select(i => $"m{i}"));
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task A_client_whose_queue_cannot_take_the_whole_batch_gets_none_of_it_and_the_others_get_all()
    {
        const int cap = 64 * 1024;
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { SendQueueMaxBytes = cap });
        using var stalled = await fixture.ConnectAsync(receiveBufferSize: 4096);
        using var fast = await fixture.ConnectAsync();
        await AllReadyAsync(handler, [stalled, fast]);
        var stalledId = fixture.ClientIdOf(stalled);

        // Fill the queue until the write loop can hand nothing more to the kernel: a queue that is full only for a
        // moment may be drained into the socket's buffers before the broadcast, and an empty queue takes anything.
        var filler = new ReadOnlySequence<byte>(new byte[1024]);
        var filled = 0;
        for (var round = 0; round < 200; round++)
        {
            var before = filled;
            while (filled < 100_000 && fixture.Server.SendToClient(stalledId, filler) == SendResult.Queued)
            {
                filled++;
            }

            if (round > 0 && filled == before)
            {
                break;
            }

            await Task.Delay(20); // time for the write loop to move what it can into the kernel
        }

        Assert.True(filled < 100_000, "the stalled client's queue never filled");
        var large = new byte[30_000];
        Random.Shared.NextBytes(large);
        ReadOnlySequence<byte>[] batch = [new(large), new(large.AsMemory(1)), new(large.AsMemory(2))];

        // The fast client's queue is empty and takes all 90 KB (an empty queue takes anything); the stalled one's takes none.
        Assert.Equal(new BroadcastResult(1, 1), fixture.Server.SendToAllClients(batch));

        foreach (var message in batch)
        {
            Assert.Equal(message.ToArray(), await fast.ReadLengthFrameAsync());
        }

        for (var i = 0; i < filled; i++)
        {
            Assert.Equal(1024, (await stalled.ReadLengthFrameAsync()).Length);
        }

        // The client has read everything, but the write loop frees its last send from the queue's count a moment later.
        Assert.True(SpinWait.SpinUntil(() => fixture.Server.GetQueuedBytes(stalledId) == 0, TimeSpan.FromSeconds(10)), "the drained queue still counts bytes");
        Assert.Equal(new BroadcastResult(2, 0), fixture.Server.SendToAllClients([Bytes("after")]));
        Assert.Equal("after", Encoding.UTF8.GetString(await stalled.ReadLengthFrameAsync())); // not one of the batch's
    }

    [Fact]
    public async Task A_message_whose_Pack_throws_is_reported_and_left_out()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, protocol: new FixedSizeProtocol(4));
        using var client = await fixture.ConnectAsync();
        await AllReadyAsync(handler, [client]);

        Assert.Equal(new BroadcastResult(1, 0), fixture.Server.SendToAllClients([Bytes("four"), Bytes("too long"), Bytes("more")]));

        var error = await handler.WaitForAsync("error");
        Assert.Contains("FixedSizeProtocol.Pack threw", error.Text, StringComparison.Ordinal);
        Assert.Equal("fourmore"u8.ToArray(), await client.ReadExactlyAsync(8));
        Assert.Equal(new BroadcastResult(0, 0), fixture.Server.SendToAllClients([Bytes("too long")]));
    }

    [Fact]
    public async Task OnSent_sees_each_message_of_a_batch_with_its_exact_bytes()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { NotifySent = true });
        using var client = await fixture.ConnectAsync();
        await AllReadyAsync(handler, [client]);

        fixture.Server.SendToAllClients([Bytes("one"), Bytes(""), Bytes("three")]);

        await handler.WaitForNthAsync("sent", 3);
        var sent = handler.Events.Where(e => e.Kind == "sent").ToList();
        Assert.Equal(["one", "", "three"], sent.Select(e => Encoding.UTF8.GetString(e.Messages[0])));
        Assert.Equal(WireClient.LengthFrame("three"u8), sent[2].Messages[1]);
    }
}
