using System.Diagnostics;

namespace CbuffTcp.Cli.Bench;

/// <summary>
/// <c>cbuff bench --mode handshake</c>: <see cref="BenchOptions.Connections"/> loops, each connecting (with
/// <c>--tls</c>, shaking hands), echoing one message and resetting, over and over. A message counts one whole
/// connection, and its latency is the connection's life from connect to checked echo.
/// </summary>
internal static class BenchHandshakes
{
    public static async Task<int> RunAsync(BenchOptions options, BenchWire wire, BenchStats stats)
    {
        var started = Stopwatch.GetTimestamp();
        var measureFrom = started + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        var measureUntil = measureFrom + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        stats.SetWindow(measureFrom, measureUntil);

        using var stop = new CancellationTokenSource();
        var loops = Enumerable.Range(0, options.Connections).Select(index => Task.Run(() => LoopAsync(options, wire, stats, index, stop.Token))).ToArray();
        var timeline = new BenchTimeline();
        var cpu = await BenchProgress.RunAsync(async progress =>
        {
            var cpu = await timeline.RunAsync(options, stats, progress).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return cpu;
        }).ConfigureAwait(false);

        var latency = stats.MergeLatency();
        var report = BenchReport.From(options, stats, latency, cpu);
        report.Print(Spectre.Console.AnsiConsole.Console);
        if (options.JsonPath is not null)
        {
            await report.WriteJsonAsync(options.JsonPath).ConfigureAwait(false);
        }

        return report.Errors == 0 ? 0 : 1;
    }

    private static async Task LoopAsync(BenchOptions options, BenchWire wire, BenchStats stats, int index, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var began = Stopwatch.GetTimestamp();
            try
            {
                if (!await BenchClient.ConnectEchoAndResetAsync(options, wire, stats, index, stop).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or System.Security.Authentication.AuthenticationException)
            {
                stats.Error($"connection {index}: {ex.Message}");
                return;
            }

            var now = Stopwatch.GetTimestamp();
            if (stats.InWindow(now))
            {
                stats.Add(1, options.Size);
                stats.RecordLatency(began, now);
            }
        }
    }
}
