using System.Buffers;
using BenchmarkDotNet.Attributes;
using CbuffTcp.Protocols;

namespace CbuffTcp.Benchmarks;

/// <summary>Each built-in protocol decoding and encoding a read's worth of 32-byte messages (64 per operation).</summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    public const int Messages = 64;
    private const int Size = 32;

    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private readonly ReadOnlySequence<byte> _payload = new(new byte[Size]);
    private ReadOnlySequence<byte> _lengthStream;
    private ReadOnlySequence<byte> _lineStream;
    private ReadOnlySequence<byte> _fixedStream;
    private LengthPrefixedProtocol _length = null!;
    private LineProtocol _line = null!;
    private FixedSizeProtocol _fixed = null!;

    [GlobalSetup]
    public void Setup()
    {
        _length = new LengthPrefixedProtocol();
        _line = new LineProtocol();
        _fixed = new FixedSizeProtocol(Size);
        _lengthStream = Pack(_length, new ReadOnlySequence<byte>(new byte[Size]));
        _lineStream = Pack(_line, new ReadOnlySequence<byte>("0123456789abcdef0123456789abcde"u8.ToArray()));
        _fixedStream = Pack(_fixed, new ReadOnlySequence<byte>(new byte[Size]));
    }

    [Benchmark]
    public int LengthPrefixedDepack() => Depack(_length, _lengthStream);

    [Benchmark]
    public int LineDepack() => Depack(_line, _lineStream);

    [Benchmark]
    public int FixedSizeDepack() => Depack(_fixed, _fixedStream);

    [Benchmark]
    public int LengthPrefixedPack()
    {
        _output.ResetWrittenCount();
        for (var i = 0; i < Messages; i++)
        {
            _length.Pack(_payload, _output);
        }

        return _output.WrittenCount;
    }

    private static int Depack<TProtocol>(TProtocol protocol, ReadOnlySequence<byte> stream)
        where TProtocol : IProtocol<ReadOnlySequence<byte>>
    {
        var count = 0;
        while (protocol.TryDepack(ref stream, out _))
        {
            count++;
        }

        return count;
    }

    private static ReadOnlySequence<byte> Pack(IProtocol<ReadOnlySequence<byte>> protocol, ReadOnlySequence<byte> message)
    {
        var writer = new ArrayBufferWriter<byte>();
        for (var i = 0; i < Messages; i++)
        {
            protocol.Pack(message, writer);
        }

        return new ReadOnlySequence<byte>(writer.WrittenSpan.ToArray()); // one array, as a connection's receive buffer hands it over
    }
}
