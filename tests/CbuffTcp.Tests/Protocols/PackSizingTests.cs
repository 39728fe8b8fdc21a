using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Protocols;

/// <summary>
/// Each built-in protocol asks its output for room for the whole packed frame at once, so a writer that grows on
/// demand (the framework's pack buffer) grows once for a large message instead of doubling its way up, copying at each step.
/// </summary>
public class PackSizingTests
{
    private const int PayloadSize = 64 * 1024;

    public static TheoryData<string> Protocols => ["length", "line", "delimiter", "raw", "fixed"];

    [Theory]
    [MemberData(nameof(Protocols))]
    public void A_large_message_packs_with_one_growth_of_the_output_whether_it_comes_in_one_segment_or_many(string name)
    {
        var protocol = Create(name);
        var payload = new byte[PayloadSize];
        new Random(5).NextBytes(payload);
        if (name is "line" or "delimiter")
        {
            payload.AsSpan().Replace((byte)'\n', (byte)'x');
        }

        var oneSegment = new ReadOnlySequence<byte>(payload);
        var threeSegments = Segments.Of([payload.AsMemory(0, 1000), payload.AsMemory(1000, 30_000), payload.AsMemory(31_000)]);
        var expected = new ArrayBufferWriter<byte>();
        protocol.Pack(oneSegment, expected);

        foreach (var message in new[] { oneSegment, threeSegments })
        {
            var output = new ExactGrowthWriter();
            protocol.Pack(message, output);

            Assert.Equal(expected.WrittenSpan.ToArray(), output.Written.ToArray());
            Assert.Equal(1, output.Growths);
        }
    }

    private static IProtocol<ReadOnlySequence<byte>> Create(string name) => name switch
    {
        "length" => new LengthPrefixedProtocol(),
        "line" => new LineProtocol(),
        "delimiter" => new DelimiterProtocol("\r\n"u8),
        "raw" => new RawProtocol(PayloadSize),
        _ => new FixedSizeProtocol(PayloadSize),
    };

    /// <summary>Grows to exactly what a <c>GetSpan</c> asks for (at least one byte) and counts how often it had to.</summary>
    private sealed class ExactGrowthWriter : IBufferWriter<byte>
    {
        private byte[] _buffer = [];
        private int _written;

        public int Growths { get; private set; }

        public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => Room(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => Room(sizeHint).Span;

        private Memory<byte> Room(int sizeHint)
        {
            var needed = Math.Max(sizeHint, 1);
            if (_buffer.Length - _written < needed)
            {
                Array.Resize(ref _buffer, _written + needed);
                Growths++;
            }

            return _buffer.AsMemory(_written);
        }
    }
}
