using System.Diagnostics;
using HdrHistogram;

namespace CbuffTcp.Cli.Bench;

/// <summary>What all connections of a run measured inside the measured window (after the warm-up, before the end).</summary>
internal sealed class BenchStats : IDisposable
{
    private long _measureFrom = long.MaxValue;
    private long _measureUntil = long.MaxValue;
    private long _messages;
    private long _bytes;
    private long _errors;
    private string? _firstError;

    // Each thread records into its own histogram (no interlocked operation per message); they are merged when read.
    private readonly ThreadLocal<LongHistogram> _latencyByThread = new(NewLatencyHistogram, trackAllValues: true);

    /// <summary>
    /// Round-trip (or delivery) latency in nanoseconds, up to a minute, 3 significant digits: every thread's recordings
    /// merged into a new histogram. Call it once the connections have stopped.
    /// </summary>
    public LongHistogram MergeLatency()
    {
        var merged = NewLatencyHistogram();
        foreach (var histogram in _latencyByThread.Values)
        {
            merged.Add(histogram);
        }

        return merged;
    }

    public long Messages => Interlocked.Read(ref _messages);

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Errors => Interlocked.Read(ref _errors);

    public string? FirstError => Volatile.Read(ref _firstError);

    /// <summary>Sets the measured window, in <see cref="Stopwatch"/> timestamps; until then nothing counts.</summary>
    public void SetWindow(long from, long until)
    {
        Volatile.Write(ref _measureUntil, until);
        Volatile.Write(ref _measureFrom, from);
    }

    public bool InWindow(long timestamp) => timestamp >= Volatile.Read(ref _measureFrom) && timestamp < Volatile.Read(ref _measureUntil);

    public void RecordLatency(long sentTimestamp, long receivedTimestamp)
    {
        var nanoseconds = (long)((receivedTimestamp - sentTimestamp) * (1_000_000_000.0 / Stopwatch.Frequency));
        var latency = _latencyByThread.Value!;
        latency.RecordValue(Math.Clamp(nanoseconds, 1, latency.HighestTrackableValue));
    }

    /// <summary>Adds a connection's counts for the window; called once per read, not per message.</summary>
    public void Add(long messages, long bytes)
    {
        Interlocked.Add(ref _messages, messages);
        Interlocked.Add(ref _bytes, bytes);
    }

    public void Dispose() => _latencyByThread.Dispose();

    private static LongHistogram NewLatencyHistogram() => new(1, 60_000_000_000, 3);

    public void Error(string what)
    {
        Interlocked.Increment(ref _errors);
        Interlocked.CompareExchange(ref _firstError, what, null);
    }
}
