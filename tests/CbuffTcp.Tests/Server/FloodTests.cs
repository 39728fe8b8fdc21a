using System.Buffers;
using System.Diagnostics;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>Fault 5: one client floods empty frames while a hundred others do round trips.</summary>
[Collection(RunsAlone.Name)]
public class FloodTests(ITestOutputHelper output)
{
    private const int Echoers = 100;
    private const int RoundTrips = 100;

    [Fact]
    public async Task A_flooder_of_empty_frames_cannot_starve_the_other_clients_or_itself()
    {
        var handler = new EchoUnlessEmpty();
        await using var fixture = await ServerFixture<EchoUnlessEmpty>.StartAsync(handler);
        var echoers = await fixture.ConnectManyAsync(Echoers);
        using var flooder = await fixture.ConnectAsync();
        await handler.WaitForNthAsync("connected", Echoers + 1);

        await RoundTripsAsync(echoers); // warm-up: JIT, thread pool
        var quiet = await RoundTripsAsync(echoers);

        using var stopFlooding = new CancellationTokenSource();
        var flood = Task.Run(async () =>
        {
            var emptyFrames = new byte[64 * 1024]; // 16,384 zero-length frames per send
            while (!stopFlooding.IsCancellationRequested)
            {
                await flooder.Socket.SendAsync(emptyFrames, stopFlooding.Token);
            }
        });
        await handler.WaitUntilAsync(_ => handler.EmptyFrames > 100_000, what: "the flood to be under way");

        var flooded = await RoundTripsAsync(echoers);
        var floodedFrames = handler.EmptyFrames;
        await stopFlooding.CancelAsync();
        await flood.ContinueWith(static _ => { }, TaskScheduler.Default);

        // Liveness is asserted; timings are reported, not asserted (this machine is shared and noisy).
        Assert.True(floodedFrames > 100_000, "the flooder itself was starved");
        output.WriteLine($"round-trip p99 of {Echoers} echoers: {quiet:F2} ms quiet, {flooded:F2} ms flooded ({flooded / quiet:F2}×); flooder delivered {floodedFrames:N0} empty frames");
    }

    /// <summary>Every echoer does its round trips concurrently; returns the p99 latency in milliseconds.</summary>
    private static async Task<double> RoundTripsAsync(List<WireClient> echoers)
    {
        var latencies = await Task.WhenAll(echoers.Select(client => Task.Run(async () =>
        {
            var mine = new double[RoundTrips];
            var payload = new byte[32];
            for (var i = 0; i < RoundTrips; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await client.SendLengthFrameAsync(payload);
                await client.ReadLengthFrameAsync(TimeSpan.FromSeconds(30));
                mine[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            return mine;
        })));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return all[(int)(all.Length * 0.99)];
    }

    /// <summary>Echoes non-empty messages; only counts empty ones (recording millions of them would be the test's own flood).</summary>
    public sealed class EchoUnlessEmpty : RecordingHandler
    {
        private long _emptyFrames;

        public long EmptyFrames => Interlocked.Read(ref _emptyFrames);

        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var message in messages)
            {
                if (message.IsEmpty)
                {
                    Interlocked.Increment(ref _emptyFrames);
                }
                else
                {
                    connection.Send(message);
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
