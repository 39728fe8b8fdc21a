using System.Diagnostics.Metrics;
using System.Globalization;
using Spectre.Console;

namespace CbuffTcp.Cli;

/// <summary>
/// The live line at the bottom of an interactive <c>cbuff serve</c>: clients, messages and bytes per second each way,
/// and sends refused by full queues, refreshed every second. It reads the server's own meter (<c>CbuffTcp</c>) through
/// a <see cref="MeterListener"/>, as any other listener would. Log lines print above it.
/// </summary>
internal sealed class ServeStatusLine : IDisposable
{
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(1);

    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly Timer _timer;
    private Totals _now;
    private Totals _before;
    private long _beforeAt = Environment.TickCount64;
    private string _line = string.Empty;

    public ServeStatusLine()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CbuffTcpTelemetry.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
        _timer = new Timer(static s => ((ServeStatusLine)s!).Tick(), this, Refresh, Refresh);
    }

    /// <summary>Writes a log line above the status line, then draws the status line again.</summary>
    public void WriteAbove(string text)
    {
        lock (_lock)
        {
            AnsiConsole.Write(new Text("\r\u001b[2K"));
            AnsiConsole.WriteLine(text);
            AnsiConsole.Markup(_line);
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _listener.Dispose();
        lock (_lock)
        {
            AnsiConsole.Write(new Text("\r\u001b[2K"));
        }
    }

    private void Tick()
    {
        _listener.RecordObservableInstruments();
        lock (_lock)
        {
            var at = Environment.TickCount64;
            var seconds = Math.Max((at - _beforeAt) / 1000.0, 0.001);
            var now = _now;
            var before = _before;
            (_before, _beforeAt) = (now, at);
            var c = CultureInfo.InvariantCulture;
            _line = Fit(string.Create(c,
                $"[bold]{now.Clients:N0}[/] clients | " +
                $"in [green]{(now.MessagesIn - before.MessagesIn) / seconds:N0}[/] msg/s {Bytes((now.BytesIn - before.BytesIn) / seconds)}/s | " +
                $"out [blue]{(now.MessagesOut - before.MessagesOut) / seconds:N0}[/] msg/s {Bytes((now.BytesOut - before.BytesOut) / seconds)}/s | " +
                $"rejected [{(now.Rejections > 0 ? "red" : "grey")}]{now.Rejections:N0}[/]"));
            AnsiConsole.Write(new Text("\r\u001b[2K"));
            AnsiConsole.Markup(_line);
        }
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var receive = tags.Length > 0 && Equals(tags[0].Value, "receive");
        lock (_lock)
        {
            switch (instrument.Name)
            {
                case "cbufftcp.active_connections": _now.Clients = value; break;
                case "cbufftcp.messages" when receive: _now.MessagesIn = value; break;
                case "cbufftcp.messages": _now.MessagesOut = value; break;
                case "cbufftcp.network.io" when receive: _now.BytesIn = value; break;
                case "cbufftcp.network.io": _now.BytesOut = value; break;
                case "cbufftcp.send_queue.rejections": _now.Rejections += value; break; // a counter: increments
            }
        }
    }

    /// <summary>One terminal row at most: a line that wrapped could not be redrawn in place.</summary>
    private static string Fit(string markup)
    {
        var width = Math.Max(AnsiConsole.Profile.Width - 1, 10);
        var plain = Markup.Remove(markup);
        return plain.Length <= width ? markup : Markup.Escape(plain[..(width - 1)]) + "…";
    }

    private static string Bytes(double perSecond) => perSecond switch
    {
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1e9:N2} GB"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1e6:N1} MB"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1e3:N1} KB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{perSecond:N0} B"),
    };

    private struct Totals
    {
        public long Clients;
        public long MessagesIn;
        public long MessagesOut;
        public long BytesIn;
        public long BytesOut;
        public long Rejections;
    }
}
