using System.Globalization;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// How long an I/O thread keeps checking for events after its last one before it sleeps: the process-wide setting
/// <c>CbuffTcp.IoThreads.SpinMicroseconds</c> (runtimeconfig, or <see cref="AppContext.SetData"/> before the first
/// I/O-threads connection), 0 to 1,000 microseconds, 50 by default; 0 turns spinning off.
/// </summary>
/// <remarks>
/// 50 microseconds covers a loopback round trip with a batch of replies (measured: a shorter window slept between the
/// `pipe` benchmark's batches and lost the gain), and bounds what a quiet server spends after its last event.
/// </remarks>
internal static class IoSpinWindow
{
    public const string SettingName = "CbuffTcp.IoThreads.SpinMicroseconds";
    public const int DefaultMicroseconds = 50;
    public const int MaxMicroseconds = 1_000;

    private static readonly Lazy<TimeSpan> s_configured = new(() => Parse(AppContext.GetData(SettingName)));

    /// <summary>The configured window; throws <see cref="InvalidOperationException"/> when the setting is not a valid number of microseconds.</summary>
    public static TimeSpan Configured => s_configured.Value;

    /// <summary>Reads the setting's value: absent means the default; a whole number of microseconds in range, as a number or text.</summary>
    public static TimeSpan Parse(object? value)
    {
        if (value is null)
        {
            return TimeSpan.FromMicroseconds(DefaultMicroseconds);
        }

        var text = Convert.ToString(value, CultureInfo.InvariantCulture);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) || microseconds > MaxMicroseconds)
        {
            throw new InvalidOperationException(
                $"{SettingName} is '{text}': it must be a whole number of microseconds from 0 (no spinning) to {MaxMicroseconds}.");
        }

        return TimeSpan.FromMicroseconds(microseconds);
    }
}
