using CbuffTcp.Benchmarks;

namespace CbuffTcp.Tests.Benchmarks;

/// <summary>
/// The micro benchmarks measure the right thing: each one run once does the work it claims (their timings are
/// BenchmarkDotNet's business, never a test's).
/// </summary>
public class MicroBenchmarkTests
{
    [Fact]
    public void Protocol_benchmarks_decode_and_encode_every_message()
    {
        var benchmarks = new ProtocolBenchmarks();
        benchmarks.Setup();
        Assert.Equal(ProtocolBenchmarks.Messages, benchmarks.LengthPrefixedDepack());
        Assert.Equal(ProtocolBenchmarks.Messages, benchmarks.LineDepack());
        Assert.Equal(ProtocolBenchmarks.Messages, benchmarks.FixedSizeDepack());
        Assert.Equal(ProtocolBenchmarks.Messages * 36, benchmarks.LengthPrefixedPack());
    }

    [Fact]
    public void Send_queue_benchmark_sends_everything_it_queued()
    {
        var benchmarks = new SendQueueBenchmarks();
        benchmarks.Setup();
        Assert.Equal(SendQueueBenchmarks.Messages * 36, benchmarks.EnqueueTakeRelease());
        Assert.Equal(SendQueueBenchmarks.Messages * 36, benchmarks.EnqueueTakeRelease()); // and again: the queue was left empty
        Assert.Equal(SendQueueBenchmarks.Messages * 36, benchmarks.EnqueueBatchTakeRelease());
        Assert.Equal(SendQueueBenchmarks.Messages * 36, benchmarks.EnqueueBatchTakeRelease());
    }

    [Fact]
    public void Registry_benchmark_finds_its_clients()
    {
        var benchmarks = new RegistryBenchmarks();
        benchmarks.Setup();
        Assert.True(benchmarks.Lookup());
        Assert.Equal(RegistryBenchmarks.Clients, benchmarks.Snapshot());
    }
}
