namespace CbuffTcp.Cli;

/// <summary>How <c>cbuff</c> reports an error it finds after parsing (options that do not go together, a port in use).</summary>
internal static class CliError
{
    public const int ExitCode = 2;

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"cbuff: {message}");
        Console.Error.WriteLine("run 'cbuff --help' for usage");
        return ExitCode;
    }
}
