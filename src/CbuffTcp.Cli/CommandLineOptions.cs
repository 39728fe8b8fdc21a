using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;

namespace CbuffTcp.Cli;

/// <summary>
/// The option kinds every <c>cbuff</c> command takes, built on System.CommandLine: each parses its value itself so a
/// bad one gets a message that names the option, the value and what was expected.
/// </summary>
internal static class CommandLineOptions
{
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max, string expected) =>
        Parsed(name, description, defaultValue, (string text, out int value) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max, expected);

    public static Option<double> Number(string name, string description, double defaultValue, double min, string expected) =>
        Parsed(name, description, defaultValue, (string text, out double value) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value >= min && double.IsFinite(value), expected);

    public static Option<IPAddress> Address(string name, string description, IPAddress defaultValue) =>
        Parsed(name, description, defaultValue, (string text, out IPAddress value) => IPAddress.TryParse(text, out value!), "an IP address");

    /// <summary>A named member of <typeparamref name="T"/>, any case; numbers are refused even where they would map.</summary>
    public static Option<T> Enum<T>(string name, string description, T defaultValue)
        where T : struct, Enum =>
        WithHelpName(Parsed(name, description, defaultValue, TryParseEnum, $"one of {Names<T>()}"), HelpNames<T>());

    /// <summary>An enum option with no default: null when not given (the command picks one from other options).</summary>
    public static Option<T?> OptionalEnum<T>(string name, string description)
        where T : struct, Enum =>
        WithHelpName(
            Parsed<T?>(name, description, null, (string text, out T? value) => (value = TryParseEnum<T>(text, out var parsed) ? parsed : null) is not null, $"one of {Names<T>()}"),
            HelpNames<T>());

    public static Option<string?> Text(string name, string description, string helpName) =>
        new(name) { Description = description, HelpName = helpName };

    /// <summary>Reads a command's options from a parse; null and why when they do not go together.</summary>
    public delegate TOptions? Bind<TOptions>(ParseResult result, out string? error);

    /// <summary>A command with <paramref name="options"/> that binds them, then runs, or fails with the binding's message.</summary>
    public static Command Command<TOptions>(string name, string description, IEnumerable<Option> options, Bind<TOptions> bind, Func<TOptions, Task<int>> run)
        where TOptions : class
    {
        var command = new Command(name, description);
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.SetAction((result, _) => bind(result, out var error) is { } bound ? run(bound) : Task.FromResult(CliError.Fail(error!)));
        return command;
    }

    private delegate bool TryParse<T>(string text, out T value);

    private static Option<T> WithHelpName<T>(Option<T> option, string helpName)
    {
        option.HelpName = helpName;
        return option;
    }

    private static Option<T> Parsed<T>(string name, string description, T defaultValue, TryParse<T> parse, string expected)
    {
        var option = new Option<T>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return defaultValue;
            }

            var text = result.Tokens[0].Value;
            if (parse(text, out var value))
            {
                return value;
            }

            result.AddError($"{name}: '{text}' is not {expected}");
            return default!;
        };
        return option;
    }

    private static bool TryParseEnum<T>(string text, out T value)
        where T : struct, Enum =>
        System.Enum.TryParse(text, ignoreCase: true, out value) && System.Enum.IsDefined(value) && !int.TryParse(text, out _);

    private static string HelpNames<T>()
        where T : struct, Enum => string.Join('|', System.Enum.GetNames<T>()).ToLowerInvariant();

    private static string Names<T>()
        where T : struct, Enum => string.Join(", ", System.Enum.GetNames<T>()).ToLowerInvariant();
}
