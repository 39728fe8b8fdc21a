using System.Text;
using CbuffTcp.Cli;

namespace CbuffTcp.Tests.Cli;

/// <summary>`cbuff serve`'s log: a handler that logs never waits for the console, and lines keep their order.</summary>
public class ServeLogTests
{
    [Fact]
    public async Task Logging_returns_at_once_while_the_console_is_stuck_and_the_lines_follow_in_order_once_it_moves()
    {
        var console = new StuckWriter();
        var log = new ServeLog(console);
        log.Line("first");
        await console.Entered.WaitAsync(TimeSpan.FromSeconds(10)); // the writer thread is stuck inside the console

        await Task.Run(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                log.Line($"line {i}"); // would hang here if a line waited for the console
            }
        }).WaitAsync(TimeSpan.FromSeconds(10));

        console.Release();
        await log.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var lines = console.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["first", .. Enumerable.Range(0, 1_000).Select(i => $"line {i}")], lines);
    }

    [Fact]
    public async Task Lines_past_the_queue_bound_are_dropped_and_counted_rather_than_waited_for()
    {
        var console = new StuckWriter();
        var log = new ServeLog(console);
        log.Line("first");
        await console.Entered.WaitAsync(TimeSpan.FromSeconds(10));

        const int Logged = 70_000; // past the 65,536 lines the log queues
        await Task.Run(() =>
        {
            for (var i = 0; i < Logged; i++)
            {
                log.Line($"line {i}");
            }
        }).WaitAsync(TimeSpan.FromSeconds(10));

        console.Release();
        await log.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var lines = console.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var written = lines.Count(l => l.StartsWith("line ", StringComparison.Ordinal));
        Assert.Equal($"{Logged - written} log lines dropped: the console did not keep up", lines[^1]);
        Assert.InRange(written, 60_000, Logged - 1);
        Assert.Equal(Enumerable.Range(0, written).Select(i => $"line {i}"), lines[1..^1]); // the first ones, in order
    }

    /// <summary>A console whose first write blocks until released, as a terminal nobody reads or a full pipe does.</summary>
    private sealed class StuckWriter : TextWriter
    {
        private readonly StringBuilder _text = new();
        private readonly ManualResetEventSlim _release = new();
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override Encoding Encoding => Encoding.UTF8;

        public Task Entered => _entered.Task;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString().Replace("\r", "", StringComparison.Ordinal);
                }
            }
        }

        public void Release() => _release.Set();

        public override void Write(char value)
        {
            _entered.TrySetResult();
            _release.Wait(TimeSpan.FromSeconds(30));
            lock (_text)
            {
                _text.Append(value);
            }
        }
    }
}
