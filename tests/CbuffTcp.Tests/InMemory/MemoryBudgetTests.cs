using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp.Connections;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CbuffTcp.Tests.InMemory;

/// <summary>
/// The server's memory budget over its send queues: exact (reserved before each array is rented, given back on every
/// path, zero once the queues are gone), a queue's first small array free, and a broadcast storm to stalled readers
/// refused at the budget while a fast reader gets every message, with one log line for the streak.
/// </summary>
public class MemoryBudgetTests
{
    [Fact]
    public void A_stalled_queue_reserves_past_its_first_array_is_refused_at_the_budget_and_gives_everything_back()
    {
        var pool = new CountingBufferPool();
        var budget = new MemoryBudget(64 * 1024);
        var queue = new SendQueue(4 * 1024 * 1024, 65_536, recordMessageLengths: false, pool, budget);
        var message = new byte[1000];

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(message, [message.Length]));
        Assert.Equal(0, budget.Used); // a reply in the queue's first 4 KiB array: free
        var queued = 1;
        while (queue.TryEnqueue(message, [message.Length]) == SendResult.Queued)
        {
            Assert.InRange(budget.Used, 0, budget.Limit);
            Assert.True(++queued < 10_000, "the budget never refused");
        }

        // Arrays double (4 KiB free, then 8, 16, 32 KiB reserved): refused when the next one would pass the budget.
        Assert.InRange(queued * message.Length, 32 * 1024, (64 + 4) * 1024);
        Assert.Equal(1, budget.Refusals);

        Assert.Equal(TakeOutcome.Taken, queue.TryTake(out var outgoing));
        queue.Release(outgoing); // written: every array back to the pool, every byte back to the budget
        Assert.Equal(0, budget.Used);
        Assert.Equal(SendResult.Queued, queue.TryEnqueue(message, [message.Length]));
        Assert.Equal(SendResult.Queued, queue.TryEnqueue(new byte[20_000], [20_000]));
        Assert.True(budget.Used > 0);
        queue.CompleteAndDiscard(); // dropped (an aborted client): the same
        Assert.Equal(0, budget.Used);
        pool.AssertAllReturned();
    }

    [Fact]
    public void A_large_message_s_pack_buffer_reserves_before_it_grows_and_its_reservation_joins_the_queue_with_its_array() => Server.PackBufferTests.OnThreadOfItsOwn(static () =>
    {
        var budget = new MemoryBudget(256 * 1024);
        var queue = new SendQueue(4 * 1024 * 1024, 65_536, recordMessageLengths: false, ArrayPool<byte>.Shared, budget);

        var packed = PackBuffer.Rent(budget);
        packed.GetSpan(40 * 1024); // within what a thread keeps: free
        Assert.Equal(0, budget.Used);
        packed.Advance(40 * 1024);
        packed.GetSpan(60 * 1024); // 100 KiB: a 128 KiB array, reserved before it is rented
        packed.Advance(60 * 1024);
        Assert.Equal(128 * 1024, budget.Used);

        Assert.Equal(SendResult.Queued, queue.TryEnqueue(packed)); // the array joins the queue with its reservation: nothing reserved twice
        PackBuffer.Return(packed);
        Assert.Equal(128 * 1024, budget.Used);

        var refused = PackBuffer.Rent(budget);
        refused.GetSpan(100 * 1024);
        refused.Advance(100 * 1024);
        Assert.Throws<MemoryBudgetRefusedException>(() => refused.GetSpan(100 * 1024)); // 256 KiB more would pass the budget
        Assert.Equal(100 * 1024, refused.WrittenSpan.Length); // what was packed stays, in its array
        PackBuffer.Return(refused);
        Assert.Equal(128 * 1024, budget.Used); // the refused pack's own array went back with its reservation

        queue.CompleteAndDiscard();
        Assert.Equal(0, budget.Used);
    });

    [Fact]
    public async Task A_send_whose_message_cannot_be_packed_within_the_budget_is_QueueFull_and_leaves_nothing_reserved()
    {
        var protocol = new ObservingProtocol();
        var handler = new RecordingHandler();
        const int Budget = 4 * 1024 * 1024;
        await using var fixture = await InMemoryFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MemoryBudget = Budget }, protocol);
        protocol.Budget = () => fixture.Server.Memory.Used;
        using var peer = await fixture.ConnectAsync(bufferSize: 2 * 1024 * 1024);
        var id = handler.LastConnectedId;

        Assert.Equal(SendResult.Queued, fixture.Server.SendToClient(id, new ReadOnlySequence<byte>(new byte[900 * 1024])));
        Assert.True(protocol.UsedAfterPack >= 900 * 1024, $"packing 900 KiB reserved only {protocol.UsedAfterPack} bytes");
        Assert.Equal(900 * 1024, (await peer.ReceiveAsync()).Length);

        // Fill the budget with a stalled reader's queue, so a large pack finds no room.
        using var stalled = await fixture.ConnectAsync(bufferSize: 1024);
        while (fixture.Server.SendToClient(handler.LastConnectedId, new ReadOnlySequence<byte>(new byte[64 * 1024])) == SendResult.Queued)
        {
            Assert.True(fixture.Server.Memory.Used <= Budget);
        }

        var errors = handler.Events.Count(e => e.Kind == "error");
        Assert.Equal(SendResult.QueueFull, fixture.Server.SendToClient(id, new ReadOnlySequence<byte>(new byte[900 * 1024])));
        Assert.Equal(errors, handler.Events.Count(e => e.Kind == "error")); // a refusal, not a Pack failure
        Assert.Equal(2, fixture.Server.SendToAllClients(new ReadOnlySequence<byte>(new byte[900 * 1024])).Rejected);

        stalled.Reset();
        await Eventually.TrueAsync(() => fixture.Server.Memory.Used == 0, "every reservation given back");
    }

    /// <summary>The length-prefixed protocol, noting the server's budget use as each <c>Pack</c> ends.</summary>
    private sealed class ObservingProtocol : IProtocol<ReadOnlySequence<byte>>
    {
        private readonly LengthPrefixedProtocol _inner = new();

        public Func<long> Budget { get; set; } = () => 0;

        public long UsedAfterPack { get; private set; }

        public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message) => _inner.TryDepack(ref buffer, out message);

        public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output)
        {
            _inner.Pack(message, output);
            UsedAfterPack = Budget();
        }
    }

    [Fact]
    public async Task A_broadcast_storm_to_stalled_readers_is_refused_at_the_budget_while_a_fast_reader_gets_every_message()
    {
        var logs = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var handler = new RecordingHandler();
        const int Budget = 256 * 1024;
        await using var fixture = await InMemoryFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { MemoryBudget = Budget, LoggerFactory = logging });
        var stalled = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        for (var i = 0; i < 4; i++)
        {
            stalled.Add(await fixture.ConnectAsync(bufferSize: 1024)); // never read: their queues only grow
        }

        using var fast = await fixture.ConnectAsync();
        var payload = new byte[1024];
        var refused = 0;
        for (var sequence = 0; sequence < 1600; sequence++)
        {
            BinaryPrimitives.WriteInt32BigEndian(payload, sequence);
            refused += fixture.Server.SendToAllClients(new ReadOnlySequence<byte>(payload)).Rejected;
            Assert.InRange(fixture.Server.Memory.Used, 0, Budget);

            // The fast reader keeps up (message by message, so however busy the machine its queue never needs more
            // than its free first array): it gets every one, in order.
            var message = await fast.ReceiveAsync();
            Assert.Equal(sequence, BinaryPrimitives.ReadInt32BigEndian(message.FirstSpan));
        }

        Assert.True(refused > 4 * 1000, $"only {refused} sends to the stalled readers were refused"); // 1,600 each, a few dozen fit
        Assert.True(fixture.Server.Memory.Refusals > 0);
        Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Id == 48);

        stalled.ForEach(p => p.Reset());
        await fixture.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, fixture.Server.Memory.Used); // every reservation given back (and the fixture checks every array)
    }

    [Fact]
    public async Task Partial_frame_holders_stop_at_the_budget_a_new_client_is_echoed_at_once_and_the_frame_timeout_closes_them()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var handler = new EchoHandler();
        const int Budget = 4 * 1024 * 1024;
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { MemoryBudget = Budget, TimeProvider = time, FrameTimeout = TimeSpan.FromSeconds(30) });

        // 20 clients each declare a 1 MiB frame and send 960 KiB of it, never the rest: 19 MiB held without a budget.
        var frame = new byte[4 + (960 * 1024)];
        BinaryPrimitives.WriteInt32BigEndian(frame, 1024 * 1024);
        var holders = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        for (var i = 0; i < 20; i++)
        {
            var peer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse($"10.0.0.{i + 1}"), 5000), bufferSize: 2 * 1024 * 1024);
            await peer.WriteAsync(frame); // lands in the in-memory "kernel buffer" whether or not the server reads it
            holders.Add(peer);
        }

        await Eventually.TrueAsync(() => holders.Sum(h => h.UnreadByServer) > 10 * 1024 * 1024 && fixture.Server.Memory.Refusals > 0, "reading paused at the budget");
        Assert.InRange(fixture.Server.Memory.Used, 0, Budget);

        using var newcomer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.0.1.1"), 5000));
        await newcomer.WriteAsync(WireClient.LengthFrame("hello"u8));
        Assert.Equal("hello"u8.ToArray(), (await newcomer.ReceiveAsync()).ToArray()); // served at once: its small array is free

        await AdvanceUntilFrameTimeoutsAsync(time, handler, 20); // the frame clock ran while they were paused: every holder is closed by it
        foreach (var holder in holders)
        {
            Assert.Equal(ConnectionEnd.Closed, await holder.WaitForEndAsync());
        }

        await Eventually.TrueAsync(() => fixture.Server.Memory.Used == 0, "every reservation given back");
        holders.ForEach(h => h.Dispose());
    }

    [Fact]
    public async Task Two_thousand_holders_of_most_of_a_max_size_frame_stay_within_256_MiB_a_newcomer_is_echoed_and_the_frame_timeout_closes_every_holder()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var handler = new EchoHandler();
        const long Budget = 256L * 1024 * 1024;
        const int Holders = 2000;
        await using var fixture = await InMemoryFixture<EchoHandler>.StartAsync(handler, new TcpServerOptions { MemoryBudget = Budget, TimeProvider = time, FrameTimeout = TimeSpan.FromSeconds(30) });

        // Each declares a 1 MiB frame (the protocol's limit) and sends 960 KiB of it: 1.9 GB held without a budget. The
        // peers' own buffers are 64 KiB, so what the server does not read waits in the (shared) frame, not in memory.
        var frame = new byte[4 + (960 * 1024)];
        BinaryPrimitives.WriteInt32BigEndian(frame, 1024 * 1024);
        using var stop = new CancellationTokenSource();
        var holders = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        var writes = new List<Task>();
        for (var i = 0; i < Holders; i++)
        {
            var peer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse($"10.1.{i / 250}.{(i % 250) + 1}"), 5000), bufferSize: 64 * 1024);
            peer.Timeout = TimeSpan.FromMinutes(5); // bounded by the test's own end: the writes are cancelled there
            writes.Add(Observed(peer.WriteAsync(frame, stop.Token))); // fails at the close: observed whatever happens to the test
            holders.Add(peer);
        }

        await handler.WaitUntilAsync(events => events.Count(e => e.Kind == "connected") == Holders, timeoutSeconds: 30, what: "2,000 holders connected");
        var ids = handler.Events.Where(e => e.Kind == "connected").Select(e => e.ClientId).ToList();
        // Each has read part of its frame (so its frame clock runs) and waits: paused by the budget, or for the rest.
        await Eventually.TrueAsync(() => fixture.Server.Memory.Refusals > 0 && ids.All(id => fixture.Server.GetReceivedBytes(id) > 0 && fixture.Server.IsWaitingOnPeer(id)), "every holder paused (budget) or waiting (its frame read), the budget refusing", timeoutSeconds: 60);
        Assert.InRange(fixture.Server.Memory.Used, Budget / 2, Budget); // the budget's own counter: filled, never passed

        try
        {
            using var newcomer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.2.0.1"), 5000));
            await newcomer.WriteAsync(WireClient.LengthFrame("hello"u8));
            Assert.Equal("hello"u8.ToArray(), (await newcomer.ReceiveAsync()).ToArray()); // served at once: its small array is free

            await AdvanceUntilFrameTimeoutsAsync(time, handler, Holders); // the frame clock ran for every holder, paused or not
        }
        finally
        {
            await stop.CancelAsync(); // whatever happened, no holder is left writing into the next test
            holders.ForEach(h => h.Dispose());
            await Task.WhenAll(writes);
        }

        await Eventually.TrueAsync(() => fixture.Server.Memory.Used == 0, "every reservation given back");
    }

    /// <summary>
    /// Moves the clock past the frame timeout, then on a second at a time until the handler has seen
    /// <paramref name="count"/> frame timeouts. A holder that memory given back by the first closes woke is reading at
    /// the ticks of one move (its clocks are checked only while it waits) and is closed at a later tick, as on a real
    /// server, where time goes on.
    /// </summary>
    private static async Task AdvanceUntilFrameTimeoutsAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, RecordingHandler handler, int count)
    {
        time.Advance(TimeSpan.FromSeconds(31));
        for (var second = 0; second < 120; second++)
        {
            try
            {
                await handler.WaitUntilAsync(events => events.Count(e => e.Kind == "disconnected" && e.Reason!.Value.Reason == DisconnectReason.FrameTimeout) == count, timeoutSeconds: 1, what: $"{count} frame timeouts");
                return;
            }
            catch (TimeoutException)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        Assert.Fail($"fewer than {count} frame timeouts after two more minutes of the clock");
    }

    private static async Task Observed(Task write) => await write.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    [Fact]
    public async Task AsyncReceive_queues_count_against_the_budget_a_spent_budget_pauses_their_reads_and_a_connection_with_nothing_queued_is_served()
    {
        var handler = new GatedHandler();
        const int Budget = 1024 * 1024;
        await using var fixture = await InMemoryFixture<GatedHandler>.StartAsync(handler, new TcpServerOptions { MemoryBudget = Budget, AsyncReceive = true, AsyncReceiveQueueMaxBytes = 4 * 1024 * 1024 });

        // 8 clients each send 1 MiB in 1 KiB frames to a handler that waits: 8 MiB would queue without the budget (each
        // queue's own limit is 4 MiB).
        var burst = new byte[1024 * 1024];
        for (var offset = 0; offset < burst.Length; offset += 1024)
        {
            BinaryPrimitives.WriteInt32BigEndian(burst.AsSpan(offset), 1020);
        }

        var senders = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        for (var i = 0; i < 8; i++)
        {
            var peer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse($"10.0.0.{i + 1}"), GatedHandler.GatedPort), bufferSize: 2 * 1024 * 1024);
            await peer.WriteAsync(burst);
            senders.Add(peer);
        }

        await Eventually.TrueAsync(() => fixture.Server.Memory.Used >= Budget * 0.9 && senders.Sum(p => p.UnreadByServer) >= (8 * burst.Length) - (Budget * 2), "the queues filled the budget and reading paused");

        // What a queue adds past the limit is at most the free floor of the array read just before the check (4 KiB each).
        Assert.InRange(fixture.Server.Memory.Used, 0, Budget + (8 * ReceiveBuffer.BudgetFloor));

        using var newcomer = fixture.Host.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.0.1.1"), 6000));
        await newcomer.WriteAsync(WireClient.LengthFrame("hello"u8));
        Assert.Equal("hello"u8.ToArray(), (await newcomer.ReceiveAsync()).ToArray()); // nothing queued: served at once

        handler.Open();
        await handler.WaitUntilAsync(events => events.Where(e => e.Kind == "received").Sum(e => e.Messages.Length) == (8 * 1024) + 1, timeoutSeconds: 30, what: "every frame handled once the handler catches up");
        await Eventually.TrueAsync(() => fixture.Server.Memory.Used == 0, "every reservation given back once the queues are empty");
        senders.ForEach(p => p.Dispose());
    }

    /// <summary>Records every message; the handler for clients from <see cref="GatedPort"/> waits until <see cref="Open"/>.</summary>
    public sealed class GatedHandler : EchoHandler
    {
        public const int GatedPort = 5000;

        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _gate.TrySetResult();

        protected override async ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            if (connection.RemoteEndPoint is System.Net.IPEndPoint { Port: GatedPort })
            {
                await _gate.Task;
                return;
            }

            await base.OnReceivedCoreAsync(connection, messages);
        }
    }
}
