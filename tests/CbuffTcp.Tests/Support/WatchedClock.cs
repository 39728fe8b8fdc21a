using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// A frozen clock that tells when a timer is set on it. Code that reports a wait and then sets its timer (a backoff, a
/// reconnect delay) races a test that moves a plain fake clock on the report: time moved before the timer exists is
/// not seen by it, and the wait never ends. Wait for the timer, then advance.
/// </summary>
internal sealed class WatchedClock : TimeProvider
{
    private readonly FakeTimeProvider _time = new();
    private readonly Channel<TimeSpan> _set = Channel.CreateUnbounded<TimeSpan>();

    public override TimeZoneInfo LocalTimeZone => _time.LocalTimeZone;

    public override long TimestampFrequency => _time.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => _time.GetUtcNow();

    public override long GetTimestamp() => _time.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = _time.CreateTimer(callback, state, dueTime, period);
        _set.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>Waits (at most 10 s) until a timer due in <paramref name="due"/> is set, skipping any other.</summary>
    public async Task TimerSetAsync(TimeSpan due)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (await _set.Reader.ReadAsync(timeout.Token) != due)
            {
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new TimeoutException($"no timer due in {due.TotalMilliseconds} ms was set within 10 s");
        }
    }

    public void Advance(TimeSpan by) => _time.Advance(by);

    /// <summary>
    /// Moves the clock by <paramref name="delay"/> once the timer of a <c>Task.Delay(delay, clock)</c> is set. That call
    /// truncates its wait to whole milliseconds, and one under a millisecond sets no timer and completes at once, so
    /// then only the clock moves.
    /// </summary>
    public async Task AdvanceOnceSetAsync(TimeSpan delay)
    {
        var due = TimeSpan.FromMilliseconds(Math.Truncate(delay.TotalMilliseconds));
        if (due > TimeSpan.Zero)
        {
            await TimerSetAsync(due);
        }

        _time.Advance(delay);
    }
}
