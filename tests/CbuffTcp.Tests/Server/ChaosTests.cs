using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Fault 12: sixteen tasks doing random sends, broadcasts, closes, connects and disconnects at once. Runs 5 s in the
/// suite; set CBUFF_CHAOS_SECONDS (60 for the soak) for longer.
/// </summary>
public class ChaosTests(ITestOutputHelper output)
{
    private const int Tasks = 16;
    private const int Frame = 4 + 12; // length header, then task number (4 bytes) and its sequence number (8 bytes)

    [Fact]
    public async Task Random_operations_from_sixteen_tasks_never_deadlock_and_keep_each_senders_order_at_every_receiver()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("CBUFF_CHAOS_SECONDS"), out var s) ? s : 5;
        var handler = new IdAnnouncingHandler();
        await using var fixture = await ServerFixture<IdAnnouncingHandler>.StartAsync(handler);
        var server = fixture.Server;
        var receivers = new ConcurrentDictionary<long, Receiver>();
        var violations = new ConcurrentQueue<string>();
        var allFrames = new StrongBox<long>();
        var counts = new long[6];

        async Task ConnectOneAsync()
        {
            var receiver = new Receiver(await fixture.ConnectAsync(), violations, allFrames);
            receiver.Start();
            receivers[await receiver.Id.WaitAsync(TimeSpan.FromSeconds(10))] = receiver;
        }

        for (var i = 0; i < 20; i++)
        {
            await ConnectOneAsync();
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var workers = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            var random = new Random(task);
            var payload = new byte[12];
            long sequence = 0;
            while (!stop.IsCancellationRequested)
            {
                var ids = receivers.Keys.ToArray();
                var op = random.Next(100);
                BinaryPrimitives.WriteInt32BigEndian(payload, task);
                BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(4), ++sequence);
                var message = new ReadOnlySequence<byte>(payload);
                if (op < 60 && ids.Length > 0)
                {
                    var result = server.SendToClient(ids[random.Next(ids.Length)], message);
                    Interlocked.Increment(ref counts[0]);
                    if (result is not (SendResult.Queued or SendResult.NotFound or SendResult.Closed or SendResult.QueueFull))
                    {
                        violations.Enqueue($"send returned {result}");
                    }
                }
                else if (op < 75)
                {
                    server.SendToAllClients(message);
                    Interlocked.Increment(ref counts[1]);
                }
                else if (op < 82)
                {
                    var unknown = long.MaxValue - random.Next(1000);
                    if (server.SendToClient(unknown, message) != SendResult.NotFound || server.CloseClient(unknown, "nobody") != CloseResult.NotFound)
                    {
                        violations.Enqueue($"unknown id {unknown} was found");
                    }

                    Interlocked.Increment(ref counts[2]);
                }
                else if (op < 88 && ids.Length > 5)
                {
                    server.CloseClient(ids[random.Next(ids.Length)], "chaos");
                    Interlocked.Increment(ref counts[3]);
                }
                else if (op < 94 && receivers.Count < 60)
                {
                    await ConnectOneAsync();
                    Interlocked.Increment(ref counts[4]);
                }
                else if (ids.Length > 5 && receivers.TryRemove(ids[random.Next(ids.Length)], out var leaving))
                {
                    leaving.Reset(); // the client leaves abruptly (a reset leaves no TIME_WAIT behind)
                    Interlocked.Increment(ref counts[5]);
                }
                else
                {
                    await Task.Yield();
                }
            }
        })).ToArray();

        // No deadlock: every worker finishes shortly after the deadline.
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(seconds + 30));
        output.WriteLine($"{seconds} s: {counts[0]:N0} sends, {counts[1]:N0} broadcasts, {counts[2]:N0} unknown-id probes, {counts[3]:N0} closes, {counts[4]:N0} connects, {counts[5]:N0} resets; {Interlocked.Read(ref allFrames.Value):N0} frames checked");
        Assert.True(violations.IsEmpty, string.Join("\n", violations.Take(20)));
        Assert.True(Interlocked.Read(ref allFrames.Value) > 0, "nothing was received");
        foreach (var receiver in receivers.Values)
        {
            receiver.Reset();
        }

        await handler.WaitUntilAsync(_ => server.ClientCount == 0, timeoutSeconds: 30, what: "every client gone");
        var connects = handler.Events.Count(e => e.Kind == "connected");
        await handler.WaitUntilAsync(events => events.Count(e => e.Kind == "disconnected") == connects, what: "one disconnect per connect");
    }

    /// <summary>Tells each client its id, in the frame format of the test, before anything else reaches it.</summary>
    public sealed class IdAnnouncingHandler : RecordingHandler
    {
        public const int Announcement = -1;

        protected override ValueTask OnConnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection)
        {
            var payload = new byte[12];
            BinaryPrimitives.WriteInt32BigEndian(payload, Announcement);
            BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(4), connection.Id);
            connection.Send(new ReadOnlySequence<byte>(payload));
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Reads one client's frames and checks that each sender's sequence numbers only go up.</summary>
    private sealed class Receiver(WireClient client, ConcurrentQueue<string> violations, StrongBox<long> allFrames)
    {
        private readonly long[] _last = new long[Tasks];
        private readonly TaskCompletionSource<long> _id = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The server's id for this client, from the first frame it sends (see <see cref="IdAnnouncingHandler"/>).</summary>
        public Task<long> Id => _id.Task;

        public void Start() => _ = Task.Run(ReadAsync);

        public void Reset()
        {
            client.Socket.LingerState = new LingerOption(true, 0);
            client.Dispose();
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[64 * 1024];
            var carried = 0;
            try
            {
                while (true)
                {
                    var read = await client.Socket.ReceiveAsync(buffer.AsMemory(carried));
                    if (read == 0)
                    {
                        return;
                    }

                    var available = carried + read;
                    var offset = 0;
                    for (; available - offset >= Frame; offset += Frame)
                    {
                        var task = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(offset + 4));
                        var sequence = BinaryPrimitives.ReadInt64BigEndian(buffer.AsSpan(offset + 8));
                        if (task == IdAnnouncingHandler.Announcement)
                        {
                            _id.TrySetResult(sequence);
                            continue;
                        }

                        if (!_id.Task.IsCompleted)
                        {
                            violations.Enqueue($"task {task}'s message arrived before the client's OnConnectedAsync message");
                        }
                        else if (sequence <= _last[task])
                        {
                            violations.Enqueue($"client {_id.Task.Result}: task {task} sent {sequence} after {_last[task]}");
                        }

                        _last[task] = sequence;
                        Interlocked.Increment(ref allFrames.Value);
                    }

                    buffer.AsSpan(offset, available - offset).CopyTo(buffer);
                    carried = available - offset;
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // closed by the server or reset by the test
            }
        }
    }
}
