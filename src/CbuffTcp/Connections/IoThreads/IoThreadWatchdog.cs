using System.Diagnostics;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// Watches the I/O threads for a handler that blocks one (as Vert.x warns "thread blocked"): twice a second it looks at
/// what each thread is handling. A thread still inside the same socket's event, with no event finished since the last
/// look, is stuck; the socket's connection hears how long, and reports the stall once it passes its threshold. The
/// I/O threads pay two field writes per event for this; an idle process pays one timer tick per half second.
/// </summary>
internal sealed class IoThreadWatchdog : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    private readonly IoLoop[] _loops;
    private readonly Sample[] _samples;
    private readonly Timer _timer;

    public IoThreadWatchdog(IoLoop[] loops)
    {
        _loops = loops;
        _samples = new Sample[loops.Length];
        _timer = new Timer(static state => ((IoThreadWatchdog)state!).Check(), this, Interval, Interval);
    }

    /// <summary>Stops looking (the process's watchdog lives as long as its I/O threads: for the process).</summary>
    public void Dispose() => _timer.Dispose();

    /// <summary>One look at every thread (the timer's, or a test's).</summary>
    public void Check()
    {
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < _loops.Length; i++)
        {
            var (socket, handled) = _loops[i].Activity;
            ref var sample = ref _samples[i];
            if (socket is null || socket != sample.Socket || handled != sample.Handled)
            {
                sample = new Sample(socket, handled, now, Reported: false); // moved on, or busy with something new
                continue;
            }

            if (!sample.Reported && socket.Observer is { } observer)
            {
                sample.Reported = observer.OnThreadBlocked(_loops[i].Name, Stopwatch.GetElapsedTime(sample.Since, now));
            }
        }
    }

    private record struct Sample(IoSocket? Socket, long Handled, long Since, bool Reported);
}
