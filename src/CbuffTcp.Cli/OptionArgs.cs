using System.Globalization;

namespace CbuffTcp.Cli;

/// <summary>The "--name value" pairs every <c>cbuff</c> command takes, and the value parsers they share.</summary>
internal static class OptionArgs
{
    /// <summary>Hands each pair to <paramref name="option"/>; returns the first error, its own or a missing value's.</summary>
    public static string? Read(IReadOnlyList<string> args, Func<string, string, string?> option)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                return name.StartsWith("--", StringComparison.Ordinal) ? $"option '{name}' needs a value" : $"unexpected argument '{name}'";
            }

            if (option(name, args[++i]) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    public static bool ParseInt(string value, int min, int max, out int result) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result >= min && result <= max;

    /// <summary>A named member of <typeparamref name="T"/>, any case; numbers are refused even where they would map.</summary>
    public static bool ParseEnum<T>(string value, out T result)
        where T : struct, Enum =>
        Enum.TryParse(value, ignoreCase: true, out result) && Enum.IsDefined(result) && !int.TryParse(value, out _);
}
