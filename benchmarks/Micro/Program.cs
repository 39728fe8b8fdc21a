// Micro benchmarks of the hot paths, with the memory diagnoser so allocations per message are visible.
// Run: dotnet run -c Release --project benchmarks/Micro -- --filter '*'
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(CbuffTcp.Benchmarks.ProtocolBenchmarks).Assembly).Run(args);
