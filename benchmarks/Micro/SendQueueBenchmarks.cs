using System.Buffers;
using BenchmarkDotNet.Attributes;
using CbuffTcp.Connections;

namespace CbuffTcp.Benchmarks;

/// <summary>
/// The per-client send queue: 64 packed 36-byte messages queued one by one (a reply each) or as one batch (a broadcast
/// of a received batch), taken by the write loop, released.
/// </summary>
[MemoryDiagnoser]
public class SendQueueBenchmarks
{
    public const int Messages = 64;

    private readonly byte[] _packet = new byte[36];
    private readonly byte[] _batch = new byte[Messages * 36];
    private readonly int[] _lengths = Enumerable.Repeat(36, Messages).ToArray();
    private readonly int[] _oneLength = [36];
    private SendQueue _queue = null!;

    [GlobalSetup]
    public void Setup() => _queue = new SendQueue(4 * 1024 * 1024, 65_536, recordMessageLengths: false, ArrayPool<byte>.Shared);

    [Benchmark]
    public int EnqueueTakeRelease()
    {
        for (var i = 0; i < Messages; i++)
        {
            _queue.TryEnqueue(_packet, _oneLength);
        }

        _queue.TryTake(out var outgoing);
        var sent = outgoing.Length;
        _queue.Release(outgoing);
        return sent;
    }

    [Benchmark]
    public int EnqueueBatchTakeRelease()
    {
        _queue.TryEnqueue(_batch, _lengths);
        _queue.TryTake(out var outgoing);
        var sent = outgoing.Length;
        _queue.Release(outgoing);
        return sent;
    }
}
