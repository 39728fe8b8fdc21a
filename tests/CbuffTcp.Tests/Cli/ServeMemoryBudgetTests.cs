using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Cli;

/// <summary>
/// The partial-frame attack of the overload issue against the real <c>cbuff serve --memory-budget 268435456</c> in a
/// second process: 2,000 clients each declare a 1 MiB frame and send 960 KiB of it, never the rest. The server's RSS
/// stays within about its budget of its baseline (without a budget it grew by 0.87 MB per client), and a new client is
/// echoed at once.
/// </summary>
[Collection(RunsAlone.Name)]
public class ServeMemoryBudgetTests(ITestOutputHelper output)
{
    private const long Budget = 256L * 1024 * 1024;

    [Fact]
    public async Task Under_a_partial_frame_attack_it_stays_within_its_budget_and_echoes_a_new_client_at_once()
    {
        await using var serve = await ServeProcess.StartAsync(
            "--protocol", "length", "--mode", "echo", "--memory-budget", Budget.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--max-connections", "5000", "--max-connections-per-ip", "5000", "--frame-timeout", "600");
        var baseline = serve.ResidentBytes();

        var frame = new byte[4 + (960 * 1024)];
        BinaryPrimitives.WriteInt32BigEndian(frame, 1024 * 1024);
        var attackers = new List<Socket>();
        var sends = new List<Task>();
        try
        {
            for (var batch = 0; batch < 20; batch++)
            {
                var connects = Enumerable.Range(0, 100).Select(async _ =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { LingerState = new LingerOption(true, 0) };
                    await socket.ConnectAsync(serve.EndPoint).WaitAsync(TimeSpan.FromSeconds(20));
                    return socket;
                });
                attackers.AddRange(await Task.WhenAll(connects));
            }

            // What 2,000 connections cost before they send anything (objects, a small array each): the attack's own
            // growth is measured from here.
            await serve.WaitForLineAsync("connected from", attackers.Count);
            var connected = serve.ResidentBytes();
            foreach (var socket in attackers)
            {
                // Never awaited to the end (the server stops reading them); their failure at the reset is observed here.
                sends.Add(socket.SendAsync(frame, SocketFlags.None).ContinueWith(static send => _ = send.Exception, TaskScheduler.Default));
            }

            // Let the server read what it will: RSS settles once every attacker is paused at the budget.
            var peak = baseline;
            long last = 0;
            for (var settled = 0; settled < 5;)
            {
                await Task.Delay(400);
                var rss = serve.ResidentBytes();
                peak = Math.Max(peak, rss);
                settled = Math.Abs(rss - last) < 8 * 1024 * 1024 ? settled + 1 : 0;
                last = rss;
                Assert.True(peak - baseline < 2L * Budget, $"RSS grew by {(peak - baseline) >> 20} MiB, past twice the budget");
            }

            using var newcomer = await WireClient.ConnectAsync(serve.EndPoint);
            await newcomer.SendLengthFrameAsync("hello"u8);
            Assert.Equal("hello"u8.ToArray(), await newcomer.ReadLengthFrameAsync(TimeSpan.FromSeconds(10)));

            output.WriteLine($"baseline {baseline >> 20} MiB, {connected >> 20} MiB with 2,000 connections, peak {peak >> 20} MiB: +{(peak - connected) >> 20} MiB for 2,000 clients holding 960 KiB each, budget {Budget >> 20} MiB");
            // About the budget: on top of it, each connection's first 4 KiB array (8 MiB, free by design) and what the GC
            // and the shared pool keep of the arrays freed as buffers grew (measured +271 to +274 MiB in all when run
            // alone, +267 to +282 in full CI runs, where the other test assembly runs beside it; +2,152 MiB with the
            // budget lifted). What the connections cost before the attack is in `connected`.
            Assert.True(peak - connected <= Budget + (Budget / 4), $"RSS grew by {(peak - connected) >> 20} MiB under a {Budget >> 20} MiB budget");
        }
        finally
        {
            attackers.ForEach(s => s.Dispose()); // reset: no TIME_WAIT left behind
            await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(30));
        }
    }
}
