using CbuffTcp.Cli;

return args switch
{
    ["serve", .. var rest] => await ServeCommand.RunAsync(rest).ConfigureAwait(false),
    ["bench", .. var rest] => await CbuffTcp.Cli.Bench.BenchCommand.RunAsync(rest).ConfigureAwait(false),
    [] or ["-h" or "--help" or "help"] => Usage.Print(Console.Out, exitCode: 0),
    [var unknown, ..] => Usage.Fail($"unknown command '{unknown}'"),
};
