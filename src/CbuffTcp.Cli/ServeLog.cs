using System.Globalization;

namespace CbuffTcp.Cli;

/// <summary>
/// Timestamped lines on the console; one lock keeps lines from interleaving. With a live status line (an interactive
/// terminal), lines print above it; redirected, they are plain lines and nothing else.
/// </summary>
internal sealed class ServeLog(TextWriter output)
{
    private readonly Lock _lock = new();
    private ServeStatusLine? _status;

    /// <summary>Shows the live status line from now on (interactive terminals only).</summary>
    public void ShowStatusLine(ServeStatusLine status) => _status = status;

    /// <summary>A line exactly as given (for lines scripts read, like <c>listening on …</c>).</summary>
    public void Line(string text)
    {
        if (_status is { } status)
        {
            status.WriteAbove(text);
            return;
        }

        lock (_lock)
        {
            output.WriteLine(text);
            output.Flush();
        }
    }

    public void Info(string text) => Line($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {text}");
}
