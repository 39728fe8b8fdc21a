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
        for (var round = 0; round < 100; round++)
        {
            for (var i = 0; i < 16; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(payload, (round * 16) + i);
                refused += fixture.Server.SendToAllClients(new ReadOnlySequence<byte>(payload)).Rejected;
                Assert.InRange(fixture.Server.Memory.Used, 0, Budget);
            }

            for (var i = 0; i < 16; i++)
            {
                var message = await fast.ReceiveAsync(); // the fast reader keeps up, round by round
                Assert.Equal((round * 16) + i, BinaryPrimitives.ReadInt32BigEndian(message.FirstSpan));
            }
        }

        Assert.True(refused > 4 * 1000, $"only {refused} sends to the stalled readers were refused"); // 1,600 each, about 64 fit
        Assert.True(fixture.Server.Memory.Refusals > 0);
        Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Id == 48);

        stalled.ForEach(p => p.Reset());
        await fixture.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, fixture.Server.Memory.Used); // every reservation given back (and the fixture checks every array)
    }
}
