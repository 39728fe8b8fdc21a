using System.Globalization;
using Spectre.Console;

namespace CbuffTcp.Cli.Bench;

/// <summary>Where a run reports how far it is.</summary>
internal interface IBenchProgress
{
    void Update(string phase, double fraction, double? rate);
}

/// <summary>
/// A progress bar with the current phase and messages/s, when a person is watching; nothing at all when the output
/// is redirected (scripts read the report or the JSON).
/// </summary>
internal static class BenchProgress
{
    public static async Task<T> RunAsync<T>(Func<IBenchProgress, Task<T>> run)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            return await run(Silent.Instance).ConfigureAwait(false);
        }

        return await AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("connecting", maxValue: 1);
                return await run(new Bar(task)).ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    private sealed class Bar(ProgressTask task) : IBenchProgress
    {
        public void Update(string phase, double fraction, double? rate)
        {
            task.Description = rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{phase}  {r,12:N0} msg/s") : phase;
            task.Value = Math.Clamp(fraction, 0, 1);
        }
    }

    private sealed class Silent : IBenchProgress
    {
        public static readonly Silent Instance = new();

        public void Update(string phase, double fraction, double? rate)
        {
        }
    }
}
