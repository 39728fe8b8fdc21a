using HdrHistogram;
using ScottPlot;
using SkiaSharp;

namespace CbuffTcp.Cli.Bench;

/// <summary>
/// <c>--plot FILE.png|.svg</c>: latency by percentile on a log scale (the way HdrHistogram plots it, so the tail is as
/// visible as the median) above throughput over the measured window.
/// </summary>
internal static class BenchPlot
{
    private const int Width = 1200;
    private const int Height = 900;

    // Percentile axis: x = log10(1 / (1 - p)), so 90 % is 1, 99 % is 2, 99.9 % is 3...
    private static readonly (double Percentile, string Label)[] PercentileTicks =
        [(50, "50%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"), (99.99, "99.99%"), (99.999, "99.999%"), (99.9999, "99.9999%")];

    public static void Write(string path, BenchReport report, HistogramBase latency, IReadOnlyList<(double Seconds, double MessagesPerSecond)> throughput)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        DrawLatency(multiplot.GetPlot(0), report, latency);
        DrawThroughput(multiplot.GetPlot(1), throughput);

        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension == ".svg")
        {
            using var stream = File.Create(path);
            using var canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), stream);
            multiplot.Render(canvas, new PixelRect(0, Width, Height, 0));
        }
        else
        {
            multiplot.SavePng(path, Width, Height);
        }
    }

    /// <summary>Why a path cannot take a plot, or null when it can.</summary>
    public static string? Check(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".png" or ".svg" ? null : $"--plot: '{path}' must end in .png or .svg";

    private static void DrawLatency(Plot plot, BenchReport report, HistogramBase latency)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        if (latency.TotalCount > 0)
        {
            foreach (var point in latency.Percentiles(5))
            {
                if (point.Percentile >= 100)
                {
                    break;
                }

                xs.Add(PercentileAxis(point.Percentile));
                ys.Add(Math.Log10(Math.Max(point.ValueIteratedTo / 1000.0, 0.1)));
            }

            xs.Add(PercentileAxis(Math.Min(99.9999, 100 - (100.0 / latency.TotalCount))));
            ys.Add(Math.Log10(Math.Max(latency.GetMaxValue() / 1000.0, 0.1)));
        }

        var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
        line.MarkerSize = 0;
        line.LineWidth = 2;
        var top = xs.Count == 0 ? 3 : xs[^1];
        var ticks = PercentileTicks.Where(t => PercentileAxis(t.Percentile) <= top + 0.5).ToArray();
        plot.Axes.Bottom.SetTicks(ticks.Select(t => PercentileAxis(t.Percentile)).ToArray(), ticks.Select(t => t.Label).ToArray());
        // Latency on a log scale too: the median and a tail 100 times higher both stay readable.
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => $"{Math.Pow(10, y):N0}",
        };
        plot.Axes.SetLimitsY(ys.Count == 0 ? 0 : Math.Floor(ys.Min()), ys.Count == 0 ? 3 : Math.Ceiling(ys.Max()));
        plot.Title($"Latency by percentile: {report.Protocol} {report.Mode}, {report.Connections:N0} connections, {report.Size:N0} B, {(report.Rate is { } rate ? $"{rate:N0} msg/s open loop" : $"{report.Depth} in flight")}");
        plot.XLabel("percentile (log scale)");
        plot.YLabel("round-trip latency (µs, log scale)");
    }

    private static void DrawThroughput(Plot plot, IReadOnlyList<(double Seconds, double MessagesPerSecond)> throughput)
    {
        var line = plot.Add.Scatter(throughput.Select(p => p.Seconds).ToArray(), throughput.Select(p => p.MessagesPerSecond).ToArray());
        line.LineWidth = 2;
        plot.Axes.SetLimitsY(0, throughput.Count == 0 ? 1 : throughput.Max(p => p.MessagesPerSecond) * 1.1);
        plot.Title($"Throughput over the measured window (every {BenchTimeline.SampleInterval.TotalSeconds:0.#} s)");
        plot.XLabel("time (s)");
        plot.YLabel("messages per second");
    }

    private static double PercentileAxis(double percentile) => Math.Log10(100.0 / (100.0 - percentile));
}
