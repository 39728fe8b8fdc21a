using System.Globalization;
using System.Threading.Channels;

namespace CbuffTcp.Cli;

/// <summary>
/// Timestamped lines on the console, written in order by a thread of their own: a handler that logs (on an I/O thread,
/// where nothing may block) only queues its line, and never waits for a terminal, a file or a full pipe; nor does a
/// thread-pool thread, since the writes that may block run on that thread alone. A burst past
/// the queue's bound is dropped and counted, and the count printed once the writer catches up. With a live status line
/// (an interactive terminal), lines print above it; redirected, they are plain lines and nothing else.
/// </summary>
internal sealed class ServeLog : IAsyncDisposable
{
    private const int MaxQueuedLines = 65_536;

    private readonly TextWriter _output;
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(
        new BoundedChannelOptions(MaxQueuedLines) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private readonly TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ServeStatusLine? _status;
    private long _dropped;

    public ServeLog(TextWriter output)
    {
        _output = output;
        new Thread(WriteLoop) { IsBackground = true, Name = "cbuff serve log" }.Start();
    }

    /// <summary>Shows the live status line from now on (interactive terminals only).</summary>
    public void ShowStatusLine(ServeStatusLine status) => _status = status;

    /// <summary>A line exactly as given (for lines scripts read, like <c>listening on …</c>).</summary>
    public void Line(string text)
    {
        if (!_lines.Writer.TryWrite(text))
        {
            Interlocked.Increment(ref _dropped); // full (or completed): never wait for the console
        }
    }

    public void Info(string text) => Line($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {text}");

    /// <summary>Writes what is queued and stops the writer; lines logged after this are dropped.</summary>
    public async Task CompleteAsync()
    {
        _lines.Writer.TryComplete();
        await _written.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await CompleteAsync().ConfigureAwait(false);

    private void WriteLoop()
    {
        var reader = _lines.Reader;
        try
        {
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) // this thread only waits for lines
            {
                while (reader.TryRead(out var line))
                {
                    Write(line);
                }

                if (Interlocked.Exchange(ref _dropped, 0) is > 0 and var dropped)
                {
                    Write($"{dropped} log lines dropped: the console did not keep up");
                }

                _output.Flush(); // once per burst, not per line
            }
        }
        catch (IOException)
        {
            _lines.Writer.TryComplete(); // the console is gone (a closed pipe): the server serves on, unlogged
        }
        finally
        {
            _written.SetResult();
        }
    }

    private void Write(string line)
    {
        if (_status is { } status)
        {
            status.WriteAbove(line);
        }
        else
        {
            _output.WriteLine(line);
        }
    }
}
