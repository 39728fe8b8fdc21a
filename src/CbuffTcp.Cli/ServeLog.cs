using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace CbuffTcp.Cli;

/// <summary>
/// Timestamped lines on the console, written in order by a thread of their own: a handler that logs (on an I/O thread,
/// where nothing may block) only queues its entry, and never waits for a terminal, a file or a full pipe; nor does a
/// thread-pool thread, since the writes that may block run on that thread alone. A burst past
/// the queue's bound is dropped and counted, and the count printed once the writer catches up. With a live status line
/// (an interactive terminal), lines print above it; redirected, they are plain lines and nothing else.
/// </summary>
/// <remarks>
/// A connect or a disconnect is queued as its parts (32 bytes) and formatted by the writer into a buffer of its own, so
/// logging one allocates nothing: a line made per connect cost about 420 bytes of strings (its text, its timestamp's,
/// and the address's, which the address then keeps for good). Redirected output is written through a buffered writer
/// that is flushed once per burst, not once per line.
/// </remarks>
internal sealed class ServeLog : IAsyncDisposable
{
    private const int MaxQueuedLines = 65_536;

    private readonly TextWriter _output;
    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly ManualResetEventSlim _wake = new(initialState: false, spinCount: 0);
    private readonly TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LineBuilder _line = new(); // the writer thread's
    private ServeStatusLine? _status;
    private int _queued;
    private int _signalled; // 1 while the writer has been woken and has not yet started draining
    private long _dropped;
    private volatile bool _completed;

    public ServeLog(TextWriter output)
    {
        _output = output;
        new Thread(WriteLoop) { IsBackground = true, Name = "cbuff serve log" }.Start();
    }

    private enum Kind : byte
    {
        Line,
        Info,
        Connected,
        Disconnected,
    }

    /// <summary>Shows the live status line from now on (interactive terminals only).</summary>
    public void ShowStatusLine(ServeStatusLine status) => _status = status;

    /// <summary>A line exactly as given (for lines scripts read, like <c>listening on …</c>).</summary>
    public void Line(string text) => Queue(new Entry(Kind.Line, default, 0, text, default));

    /// <summary>A timestamped line.</summary>
    public void Info(string text) => Queue(new Entry(Kind.Info, DateTime.Now, 0, text, default));

    /// <summary>"client N connected from ADDRESS", timestamped.</summary>
    public void Connected(long clientId, EndPoint? remote) => Queue(new Entry(Kind.Connected, DateTime.Now, clientId, remote, default));

    /// <summary>"client N disconnected: REASON", timestamped.</summary>
    public void Disconnected(long clientId, DisconnectInfo reason) => Queue(new Entry(Kind.Disconnected, DateTime.Now, clientId, reason.Detail, reason.Reason));

    /// <summary>Writes what is queued and stops the writer; lines logged after this are dropped.</summary>
    public async Task CompleteAsync()
    {
        _completed = true;
        _wake.Set();
        await _written.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await CompleteAsync().ConfigureAwait(false);

    private void Queue(in Entry entry)
    {
        if (_completed)
        {
            Interlocked.Increment(ref _dropped); // after CompleteAsync: no writer to take it
            return;
        }

        if (Interlocked.Increment(ref _queued) > MaxQueuedLines)
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Increment(ref _dropped); // full: never wait for the console
            return;
        }

        _entries.Enqueue(entry);
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
        {
            _wake.Set();
        }
    }

    private void WriteLoop()
    {
        try
        {
            while (true)
            {
                Volatile.Write(ref _signalled, 0); // entries queued from here on wake this thread again
                var completed = _completed; // read before the drain: what was queued before completion is written
                WriteQueued();
                if (completed)
                {
                    break;
                }

                _wake.Wait(); // this thread only waits for lines
                _wake.Reset();
            }
        }
        catch (IOException)
        {
            _completed = true; // the console is gone (a closed pipe): the server serves on, unlogged
        }
        finally
        {
            _written.SetResult();
        }
    }

    private void WriteQueued()
    {
        var wrote = false;
        while (_entries.TryDequeue(out var entry))
        {
            Interlocked.Decrement(ref _queued);
            Format(entry);
            Write();
            wrote = true;
        }

        if (Interlocked.Exchange(ref _dropped, 0) is > 0 and var dropped)
        {
            _line.Clear();
            _line.Append(dropped);
            _line.Append(" log lines dropped: the console did not keep up");
            Write();
            wrote = true;
        }

        if (wrote)
        {
            _output.Flush(); // once per burst, not per line
        }
    }

    private void Format(in Entry entry)
    {
        _line.Clear();
        if (entry.Kind == Kind.Line)
        {
            _line.Append((string)entry.Subject!);
            return;
        }

        _line.Append(entry.At, "HH:mm:ss.fff");
        _line.Append(" ");
        switch (entry.Kind)
        {
            case Kind.Info:
                _line.Append((string)entry.Subject!);
                break;
            case Kind.Connected:
                _line.Append("client ");
                _line.Append(entry.ClientId);
                _line.Append(" connected from ");
                _line.Append((EndPoint?)entry.Subject);
                break;
            case Kind.Disconnected:
                _line.Append("client ");
                _line.Append(entry.ClientId);
                _line.Append(" disconnected: ");
                _line.Append(new DisconnectInfo(entry.Reason, (string)entry.Subject!));
                break;
        }
    }

    private void Write()
    {
        if (_status is { } status)
        {
            status.WriteAbove(_line.Text.ToString()); // an interactive terminal: a string per line is no matter
        }
        else
        {
            _output.WriteLine(_line.Text);
        }
    }

    /// <summary>A line to write: 32 bytes, as a burst of connects may queue thousands. Its subject is the text of a line, the address of a connect, or the detail of a disconnect's reason.</summary>
    private readonly record struct Entry(Kind Kind, DateTime At, long ClientId, object? Subject, DisconnectReason Reason);

    /// <summary>One line, formatted in place into a buffer that grows as lines need and is kept.</summary>
    private sealed class LineBuilder
    {
        private char[] _buffer = new char[256];
        private int _length;

        public ReadOnlySpan<char> Text => _buffer.AsSpan(0, _length);

        public void Clear() => _length = 0;

        public void Append(ReadOnlySpan<char> text)
        {
            Room(text.Length);
            text.CopyTo(_buffer.AsSpan(_length));
            _length += text.Length;
        }

        public void Append(long value) => Append(value, default);

        public void Append<T>(T value, ReadOnlySpan<char> format)
            where T : struct, ISpanFormattable
        {
            int written;
            while (!value.TryFormat(_buffer.AsSpan(_length), out written, format, CultureInfo.InvariantCulture))
            {
                Room(_buffer.Length);
            }

            _length += written;
        }

        /// <summary>As <see cref="IPEndPoint.ToString"/> writes it ("[::1]:9000" for IPv6), without its string.</summary>
        public void Append(EndPoint? endPoint)
        {
            if (endPoint is not IPEndPoint ip)
            {
                Append(endPoint?.ToString()); // a Unix socket's path, or none
                return;
            }

            var v6 = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            if (v6)
            {
                Append("[");
            }

            int written;
            while (!ip.Address.TryFormat(_buffer.AsSpan(_length), out written))
            {
                Room(_buffer.Length);
            }

            _length += written;
            Append(v6 ? "]:" : ":");
            Append(ip.Port, default);
        }

        /// <summary>As <see cref="DisconnectInfo.ToString"/> writes it.</summary>
        public void Append(DisconnectInfo reason)
        {
            int written;
            while (!Enum.TryFormat(reason.Reason, _buffer.AsSpan(_length), out written))
            {
                Room(_buffer.Length);
            }

            _length += written;
            if (reason.Detail.Length > 0)
            {
                Append(": ");
                Append(reason.Detail);
            }
        }

        private void Room(int more)
        {
            if (_buffer.Length - _length < more)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
            }
        }
    }
}
