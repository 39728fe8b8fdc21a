using System.Globalization;
using System.Text.Json;
using HdrHistogram;
using Spectre.Console;

namespace CbuffTcp.Cli.Bench;

/// <summary>The figures of one run, printed for people and written as JSON for scripts.</summary>
internal sealed record BenchReport(
    string Protocol,
    string Mode,
    int Connections,
    int Senders,
    int Size,
    int Depth,
    double? Rate,
    string Io,
    double Seconds,
    long Messages,
    double MessagesPerSecond,
    double MegabytesPerSecond,
    LatencyFigures LatencyMicroseconds,
    long Errors,
    string? FirstError,
    double BenchCpuSeconds)
{
    /// <param name="h">The run's latencies (<see cref="BenchStats.MergeLatency"/>), in nanoseconds.</param>
    public static BenchReport From(BenchOptions options, BenchStats stats, HistogramBase h, TimeSpan cpu)
    {
        var seconds = options.Duration.TotalSeconds;
        static double Us(long nanoseconds) => nanoseconds / 1000.0;
        var latency = h.TotalCount == 0
            ? new LatencyFigures(0, 0, 0, 0, 0, 0, 0, 0)
            : new LatencyFigures(
                h.TotalCount,
                Us(h.LowestEquivalentValue(h.RecordedValues().First().ValueIteratedTo)),
                h.GetMean() / 1000.0,
                Us(h.GetValueAtPercentile(50)),
                Us(h.GetValueAtPercentile(90)),
                Us(h.GetValueAtPercentile(99)),
                Us(h.GetValueAtPercentile(99.9)),
                Us(h.GetMaxValue()));
        return new BenchReport(
            options.Protocol.ToString().ToLowerInvariant(),
            options.Mode.ToString().ToLowerInvariant(),
            options.Connections,
            options.Senders,
            options.Size,
            options.Depth,
            options.Rate,
            options.Io.ToString().ToLowerInvariant(),
            seconds,
            stats.Messages,
            stats.Messages / seconds,
            stats.Bytes / seconds / 1_000_000,
            latency,
            stats.Errors,
            stats.FirstError,
            cpu.TotalSeconds);
    }

    /// <summary>A line on the load, a table of throughput, a table of latency percentiles, then errors and own CPU.</summary>
    public void Print(IAnsiConsole console)
    {
        var c = CultureInfo.InvariantCulture;
        var load = Rate is { } rate ? $"open loop at {rate.ToString("N0", c)} msg/s" : $"{Depth} in flight per sender";
        var plain = console.Profile.Out.Writer; // whole lines, never wrapped to the console's width
        plain.WriteLine(string.Create(c, $"cbuff bench: {Protocol} {Mode}, {Connections:N0} connections ({Senders:N0} sending), {Size:N0}-byte messages, {load}, {Seconds:0.#} s, {Io} I/O"));

        var throughput = new Table().Border(TableBorder.Rounded);
        foreach (var header in new[] { "connections", "messages", "errors", "msg/s", "MB/s" })
        {
            throughput.AddColumn(new TableColumn(header).RightAligned());
        }

        throughput.AddRow(Connections.ToString("N0", c), Messages.ToString("N0", c), Errors.ToString("N0", c), MessagesPerSecond.ToString("N0", c), MegabytesPerSecond.ToString("N1", c));
        console.Write(throughput);

        var l = LatencyMicroseconds;
        var latency = new Table().Border(TableBorder.Rounded).Title(string.Create(c, $"latency µs ({l.Samples:N0} samples)"));
        foreach (var header in new[] { "min", "mean", "p50", "p90", "p99", "p99.9", "max" })
        {
            latency.AddColumn(new TableColumn(header).RightAligned());
        }

        latency.AddRow(new[] { l.Min, l.Mean, l.P50, l.P90, l.P99, l.P999, l.Max }.Select(v => v.ToString("N1", c)).ToArray());
        console.Write(latency);

        plain.WriteLine(string.Create(c, $"  errors      {Errors,14:N0}{(FirstError is null ? "" : $"   first: {FirstError}")}"));
        plain.WriteLine(string.Create(c, $"  bench CPU   {BenchCpuSeconds,12:N2} s   {BenchCpuSeconds / Seconds * 100,12:N0} % of one core"));
    }

    public async Task WriteJsonAsync(string path)
    {
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, this, JsonOptions).ConfigureAwait(false);
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}

/// <summary>Latency percentiles in microseconds.</summary>
internal sealed record LatencyFigures(long Samples, double Min, double Mean, double P50, double P90, double P99, double P999, double Max);
