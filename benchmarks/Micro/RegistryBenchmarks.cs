using BenchmarkDotNet.Attributes;

namespace CbuffTcp.Benchmarks;

/// <summary>The client registry: looking up a client by id, and walking the broadcast snapshot, at 10,000 clients.</summary>
[MemoryDiagnoser]
public class RegistryBenchmarks
{
    public const int Clients = 10_000;

    private readonly ClientRegistry<int> _registry = new();
    private long _next;

    [GlobalSetup]
    public void Setup()
    {
        foreach (var connection in RegistryFixture.Connections(Clients))
        {
            _registry.TryAdd(connection);
        }
    }

    [Benchmark]
    public bool Lookup() => _registry.TryGet((_next++ % Clients) + 1, out _);

    [Benchmark]
    public int Snapshot() => _registry.GetSnapshot().Length;
}
