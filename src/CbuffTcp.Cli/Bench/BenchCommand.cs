using System.CommandLine;
using System.Diagnostics;

namespace CbuffTcp.Cli.Bench;

/// <summary><c>cbuff bench</c>: connects, warms up, measures for the given time, drains, reports.</summary>
internal static class BenchCommand
{
    private const int ConnectsAtOnce = 100; // paced well under the listen backlog
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Holds every connection open and silent for the run's time, then checks the server kept them all.</summary>
    private static async Task<int> HoldIdleAsync(BenchOptions options, List<BenchClient> clients)
    {
        Console.WriteLine($"connected {clients.Count} idle connections; holding them for {options.Duration.TotalSeconds:0.#} s");
        await Task.Delay(options.Duration).ConfigureAwait(false);
        var closed = clients.Count(c => !c.IsOpen);
        Console.WriteLine($"held {clients.Count - closed} of {clients.Count} idle connections to the end; closed by the server: {closed}");
        return closed == 0 ? 0 : 1;
    }

    /// <summary>With <see cref="BenchIo.Inline"/>, reads must have resumed off the thread pool: else the switch came too late.</summary>
    private static void CheckIo(BenchOptions options, List<BenchClient> clients, BenchStats stats)
    {
        if (options.Io != BenchIo.Inline)
        {
            return;
        }

        var reads = clients.Sum(c => c.Reads);
        var onThreadPool = clients.Sum(c => c.ReadsOnThreadPool);
        if (onThreadPool * 2 > reads)
        {
            stats.Error($"--io inline: {onThreadPool:N0} of {reads:N0} reads resumed on the thread pool; {InlineCompletionsVariable} did not take effect");
        }
    }

    public static Command Create() => CommandLineOptions.Command<BenchOptions>(
        "bench",
        "Load-tests a server that echoes (or broadcasts) the length or line wire format of cbuff serve, checks every byte that comes back, and reports messages/s, MB/s and latency percentiles.",
        BenchOptions.Cli.All,
        BenchOptions.From,
        RunAsync);

    /// <summary>The runtime reads it when its socket engine starts, at the process's first asynchronous socket call.</summary>
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static async Task<int> RunAsync(BenchOptions options)
    {
        if (options.Io == BenchIo.Inline)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1"); // before the first socket of the process
        }

        var wire = new BenchWire(options.Protocol, options.Size, options.Depth);
        var clients = new List<BenchClient>(options.Connections);
        try
        {
            // The window is set once everyone is connected; nothing is sent before.
            using var stats = new BenchStats();
            if (options.Mode == BenchMode.Handshake)
            {
                return await BenchHandshakes.RunAsync(options, wire, stats).ConfigureAwait(false);
            }

            using (var connecting = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                for (var i = 0; i < options.Connections; i += ConnectsAtOnce)
                {
                    var batch = Enumerable.Range(i, Math.Min(ConnectsAtOnce, options.Connections - i))
                        .Select(index => BenchClient.ConnectAsync(options, wire, stats, index, connecting.Token));
                    clients.AddRange(await Task.WhenAll(batch).ConfigureAwait(false));
                }
            }

            if (options.Mode == BenchMode.Idle)
            {
                return await HoldIdleAsync(options, clients).ConfigureAwait(false);
            }

            var started = Stopwatch.GetTimestamp();
            var measureFrom = started + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
            var measureUntil = measureFrom + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
            stats.SetWindow(measureFrom, measureUntil);

            using var stopSending = new CancellationTokenSource();
            using var stop = new CancellationTokenSource();
            var running = clients.Select(c => Task.Run(() => c.RunAsync(stopSending.Token, stop.Token))).ToArray();

            var timeline = new BenchTimeline();
            var cpu = await BenchProgress.RunAsync(async progress =>
            {
                var cpu = await timeline.RunAsync(options, stats, progress).ConfigureAwait(false);

                // Stop sending; let every sender get its own messages back (bounded), then stop the receivers.
                await stopSending.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(running).WaitAsync(DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await stop.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(running).WaitAsync(DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                return cpu;
            }).ConfigureAwait(false);
            var stuck = clients.Where((c, i) => i < options.Senders && c.Outstanding > 0).ToList();
            if (stuck.Count > 0)
            {
                stats.Error($"{stuck.Count} connections still had {stuck.Sum(c => c.Outstanding)} messages unanswered {DrainTimeout.TotalSeconds:0} s after the end");
            }

            CheckIo(options, clients, stats);
            var latency = stats.MergeLatency();
            var report = BenchReport.From(options, stats, latency, cpu);
            report.Print(Spectre.Console.AnsiConsole.Console);
            if (options.JsonPath is not null)
            {
                await report.WriteJsonAsync(options.JsonPath).ConfigureAwait(false);
            }

            if (options.PlotPath is not null)
            {
                BenchPlot.Write(options.PlotPath, report, latency, timeline.Samples);
                Console.WriteLine($"plot written to {options.PlotPath}");
            }

            return report.Errors == 0 ? 0 : 1;
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            Console.Error.WriteLine($"cbuff bench: cannot reach {options.TargetName}: {ex.Message}");
            return 1;
        }
        finally
        {
            clients.ForEach(c => c.Reset());
        }
    }
}
