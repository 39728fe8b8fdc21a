using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>DESIGN's ordering guarantees with AsyncReceive off and on.</summary>
public class OrderingTests
{
    private const int MessagesPerClient = 3000;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Messages_of_each_client_arrive_in_order_without_overlapping_callbacks(bool asyncReceive)
    {
        var handler = new SequenceCheckingHandler();
        var options = new TcpServerOptions { AsyncReceive = asyncReceive, AsyncReceiveQueueMaxBytes = 64 };
        await using var fixture = await ServerFixture<SequenceCheckingHandler>.StartAsync(handler, options);

        var clients = await fixture.ConnectManyAsync(4);
        await Task.WhenAll(clients.Select((client, index) => SendNumberedAsync(client, new Random(index))));
        await handler.WaitUntilAsync(_ => handler.Total == MessagesPerClient * clients.Count, timeoutSeconds: 30, what: "every message");
        clients.ForEach(c => c.Dispose());
        await handler.WaitForNthAsync("disconnected", clients.Count);

        Assert.Empty(handler.Violations);
        Assert.All(handler.Events.GroupBy(e => e.ClientId), events =>
        {
            Assert.Equal("connected", events.First().Kind);
            Assert.Equal("disconnected", events.Last().Kind);
        });
    }

    private static async Task SendNumberedAsync(WireClient client, Random random)
    {
        var stream = new byte[MessagesPerClient * 8];
        for (var i = 0; i < MessagesPerClient; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(stream.AsSpan(i * 8), 4);
            BinaryPrimitives.WriteInt32BigEndian(stream.AsSpan(i * 8 + 4), i);
        }

        await client.SendSplitAsync(stream, random);
    }

    /// <summary>
    /// Awaits before reading each batch (so a batch must stay valid until the callback's task completes), then checks
    /// every client's numbers count up by one.
    /// </summary>
    public sealed class SequenceCheckingHandler : RecordingHandler
    {
        private readonly Dictionary<long, int> _next = [];
        private readonly Lock _lock = new();
        private int _total;

        public List<string> Violations { get; } = [];

        public int Total => Volatile.Read(ref _total);

        public override async ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            // Base records the batch (copies) and checks for overlap; the check below reads the views after awaits.
            await base.OnReceivedAsync(connection, messages);
            await Task.Yield();
            if (Random.Shared.Next(8) == 0)
            {
                await Task.Delay(1);
            }

            foreach (var message in messages)
            {
                var number = BinaryPrimitives.ReadInt32BigEndian(message.ToArray());
                lock (_lock)
                {
                    var expected = _next.GetValueOrDefault(connection.Id);
                    if (number != expected)
                    {
                        Violations.Add($"connection {connection.Id}: got {number}, expected {expected}");
                    }

                    _next[connection.Id] = number + 1;
                }

                Interlocked.Increment(ref _total);
            }
        }
    }
}
