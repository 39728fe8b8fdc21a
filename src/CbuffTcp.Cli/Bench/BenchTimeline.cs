using System.Diagnostics;

namespace CbuffTcp.Cli.Bench;

/// <summary>
/// Drives the run's clock: the warm-up, then the measured window, sampling throughput every
/// <see cref="SampleInterval"/> for the plot, and showing a progress bar when the console is interactive.
/// </summary>
internal sealed class BenchTimeline
{
    public static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(500);

    private readonly List<(double Seconds, double MessagesPerSecond)> _samples = [];

    /// <summary>Messages/s over the measured window, one point per interval, at the interval's end (seconds into the window).</summary>
    public IReadOnlyList<(double Seconds, double MessagesPerSecond)> Samples => _samples;

    /// <summary>Waits out the warm-up and the window. Returns the process CPU time spent in the window.</summary>
    public async Task<TimeSpan> RunAsync(BenchOptions options, BenchStats stats, IBenchProgress progress)
    {
        var total = (options.Warmup + options.Duration).TotalSeconds;
        var started = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(SampleInterval);
        while (Stopwatch.GetElapsedTime(started) < options.Warmup)
        {
            progress.Update("warming up", Stopwatch.GetElapsedTime(started).TotalSeconds / total, rate: null);
            await WaitAsync(timer, options.Warmup - Stopwatch.GetElapsedTime(started)).ConfigureAwait(false);
        }

        var cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
        var windowStart = Stopwatch.GetTimestamp();
        var lastMessages = stats.Messages;
        var lastAt = windowStart;
        while (Stopwatch.GetElapsedTime(windowStart) < options.Duration)
        {
            await WaitAsync(timer, options.Duration - Stopwatch.GetElapsedTime(windowStart)).ConfigureAwait(false);
            var now = Stopwatch.GetTimestamp();
            var interval = Stopwatch.GetElapsedTime(lastAt, now);
            if (interval < SampleInterval / 2)
            {
                continue; // the window's last sliver: too short to be a fair sample
            }

            var messages = stats.Messages;
            var rate = (messages - lastMessages) / interval.TotalSeconds;
            _samples.Add((Stopwatch.GetElapsedTime(windowStart, now).TotalSeconds, rate));
            (lastMessages, lastAt) = (messages, now);
            progress.Update("measuring", Stopwatch.GetElapsedTime(started).TotalSeconds / total, rate);
        }

        progress.Update("draining", 1, rate: null);
        return Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart;
    }

    // The next tick, or the end of the phase if that comes first.
    private static async Task WaitAsync(PeriodicTimer timer, TimeSpan left)
    {
        if (left <= TimeSpan.Zero)
        {
            return;
        }

        if (left < SampleInterval)
        {
            await Task.Delay(left).ConfigureAwait(false);
            return;
        }

        await timer.WaitForNextTickAsync().ConfigureAwait(false);
    }
}
