using System.CommandLine;
using CbuffTcp.Cli;
using CbuffTcp.Cli.Bench;

var root = new RootCommand("cbuff: a CbuffTcp demo server and a load generator for the length and line wire formats.")
{
    ServeCommand.Create(),
    BenchCommand.Create(),
};

// `cbuff serve` handles SIGINT/SIGTERM itself (a graceful stop, then exit 0): System.CommandLine must not race it.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
