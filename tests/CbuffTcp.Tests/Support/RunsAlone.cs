namespace CbuffTcp.Tests.Support;

/// <summary>
/// Tests that measure the whole process (descriptor counts, heap, latency) run in this collection: alone, after the
/// parallel ones, so other tests' sockets and allocations do not show up in their figures.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "Runs alone";
}
