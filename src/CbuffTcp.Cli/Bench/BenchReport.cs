using System.Globalization;
using System.Text.Json;
using HdrHistogram;

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
    double Seconds,
    long Messages,
    double MessagesPerSecond,
    double MegabytesPerSecond,
    LatencyFigures LatencyMicroseconds,
    long Errors,
    string? FirstError,
    double BenchCpuSeconds)
{
    public static BenchReport From(BenchOptions options, BenchStats stats, TimeSpan cpu)
    {
        var seconds = options.Duration.TotalSeconds;
        var h = stats.Latency;
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
            seconds,
            stats.Messages,
            stats.Messages / seconds,
            stats.Bytes / seconds / 1_000_000,
            latency,
            stats.Errors,
            stats.FirstError,
            cpu.TotalSeconds);
    }

    public void Print(TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        var load = Rate is { } rate ? $"open loop at {rate.ToString("N0", c)} msg/s" : $"{Depth} in flight per sender";
        output.WriteLine(string.Create(c, $"cbuff bench: {Protocol} {Mode}, {Connections:N0} connections ({Senders:N0} sending), {Size:N0}-byte messages, {load}, {Seconds:0.#} s"));
        output.WriteLine(string.Create(c, $"  messages    {Messages,14:N0}   {MessagesPerSecond,14:N0} /s"));
        output.WriteLine(string.Create(c, $"  payload     {Messages * (double)Size / 1_000_000,11:N1} MB   {MegabytesPerSecond,11:N1} MB/s"));
        var l = LatencyMicroseconds;
        output.WriteLine(string.Create(c, $"  latency µs  min {l.Min:N1}  mean {l.Mean:N1}  p50 {l.P50:N1}  p90 {l.P90:N1}  p99 {l.P99:N1}  p99.9 {l.P999:N1}  max {l.Max:N1}  ({l.Samples:N0} samples)"));
        output.WriteLine(string.Create(c, $"  errors      {Errors,14:N0}{(FirstError is null ? "" : $"   first: {FirstError}")}"));
        output.WriteLine(string.Create(c, $"  bench CPU   {BenchCpuSeconds,12:N2} s   {BenchCpuSeconds / Seconds * 100,12:N0} % of one core"));
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
