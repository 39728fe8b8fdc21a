using System.Globalization;

namespace CbuffTcp.Cli;

/// <summary>Plain timestamped lines on the console; one lock keeps lines from interleaving.</summary>
internal sealed class ServeLog(TextWriter output)
{
    private readonly Lock _lock = new();

    /// <summary>A line exactly as given (for lines scripts read, like <c>listening on …</c>).</summary>
    public void Line(string text)
    {
        lock (_lock)
        {
            output.WriteLine(text);
            output.Flush();
        }
    }

    public void Info(string text) => Line($"{DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {text}");
}
