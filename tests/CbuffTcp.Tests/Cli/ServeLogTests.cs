using System.Net;
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

    [Fact]
    public async Task Connects_and_disconnects_read_as_the_endpoint_and_reason_would_print_themselves()
    {
        var console = new StringWriter();
        var log = new ServeLog(console);
        var v4 = new IPEndPoint(IPAddress.Parse("203.0.113.7"), 51234);
        var v6 = new IPEndPoint(IPAddress.Parse("2001:db8::1"), 9000);
        var reasons = new[] { new DisconnectInfo(DisconnectReason.RemoteClosed, ""), new DisconnectInfo(DisconnectReason.FrameTooLarge, "frame of 9 bytes") };

        log.Connected(1, v4);
        log.Connected(long.MaxValue, v6);
        log.Disconnected(1, reasons[0]);
        log.Disconnected(2, reasons[1]);
        await log.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(10));

        var lines = console.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.Matches(@"^\d\d:\d\d:\d\d\.\d\d\d ", line));
        Assert.Equal(
            [$"client 1 connected from {v4}", $"client {long.MaxValue} connected from {v6}", $"client 1 disconnected: {reasons[0]}", $"client 2 disconnected: {reasons[1]}"],
            lines.Select(line => line[13..]));
    }

    [Fact]
    public async Task Logging_a_connect_allocates_nothing_on_the_handlers_thread()
    {
        var console = new LineCounter();
        var log = new ServeLog(console);
        var remote = new IPEndPoint(IPAddress.Loopback, 40000);
        for (var i = 0; i < 2_000; i++)
        {
            log.Connected(i, remote); // the queue grows to what a burst needs once
        }

        await console.WaitForLinesAsync(2_000); // and is empty again

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            log.Connected(i, remote);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await log.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, allocated); // a formatted line per connect was 200 bytes and more, and the address kept its text
    }

    /// <summary>A console that counts the lines written to it.</summary>
    private sealed class LineCounter : TextWriter
    {
        private readonly SemaphoreSlim _lines = new(0);

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                _lines.Release();
            }
        }

        public async Task WaitForLinesAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.True(await _lines.WaitAsync(TimeSpan.FromSeconds(10)), $"{i} of {count} lines written");
            }
        }
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
