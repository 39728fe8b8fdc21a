using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Protocols;

/// <summary>
/// For each built-in protocol: 10,000 random streams of frames (sizes 0, 1, max−1, max and random), packed by the
/// protocol, cut at random points, decode to the same messages in the same order with nothing left over.
/// </summary>
public class ProtocolPropertyTests
{
    private const int Cases = 10_000;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void LengthPrefixed_round_trips_every_cut(int headerSize)
    {
        var random = new Random(1000 + headerSize);
        for (var i = 0; i < Cases; i++)
        {
            var includesHeader = random.Next(2) == 0;
            var max = headerSize == 1 ? (includesHeader ? 254 : 255) : random.Next(1, 3000);
            var protocol = new LengthPrefixedProtocol(headerSize, bigEndian: random.Next(2) == 0, lengthIncludesHeader: includesHeader, maxFrameSize: max);
            AssertRoundTrip(protocol, RandomPayloads(random, max), random, $"case {i}, header {headerSize}, max {max}, includes header {includesHeader}");
        }
    }

    [Fact]
    public void Line_round_trips_every_cut_with_lf_and_crlf_endings()
    {
        var random = new Random(2000);
        for (var i = 0; i < Cases; i++)
        {
            var max = random.Next(1, 3000);
            var lines = RandomPayloads(random, max, alphabet: "abc xyz\r\t.é"u8.ToArray())
                .Select(p => p.AsSpan().TrimEnd((byte)'\r').ToArray()) // a trailing \r belongs to the line ending by definition
                .ToList();
            var stream = new List<byte>();
            foreach (var line in lines)
            {
                stream.AddRange(line);
                stream.AddRange(random.Next(2) == 0 ? "\n"u8.ToArray() : "\r\n"u8.ToArray());
            }

            var decoded = ChunkedDecoder.Decode(new LineProtocol(max), [.. stream], random, out var leftover);
            Assert.Equal(0, leftover);
            AssertSameMessages(lines, decoded, $"case {i}");
        }
    }

    [Fact]
    public void Multi_byte_delimiter_round_trips_every_cut()
    {
        var random = new Random(3000);
        for (var i = 0; i < Cases; i++)
        {
            var max = random.Next(1, 3000);
            var protocol = new DelimiterProtocol("|#|"u8, max);
            AssertRoundTrip(protocol, RandomPayloads(random, max, alphabet: "ab#c|d"u8.ToArray(), avoid: "|#"u8.ToArray()), random, $"case {i}");
        }
    }

    [Fact]
    public void FixedSize_round_trips_every_cut()
    {
        var random = new Random(4000);
        for (var i = 0; i < Cases; i++)
        {
            var size = random.Next(1, 600);
            var frames = Enumerable.Range(0, random.Next(0, 20)).Select(_ => RandomBytes(random, size)).ToList();
            AssertRoundTrip(new FixedSizeProtocol(size), frames, random, $"case {i}");
        }
    }

    [Fact]
    public void Raw_delivers_every_byte_in_order_for_every_cut()
    {
        var random = new Random(5000);
        for (var i = 0; i < Cases; i++)
        {
            var stream = RandomBytes(random, random.Next(0, 5000));
            var protocol = new RawProtocol(maxChunkSize: random.Next(1, 3000));
            var decoded = ChunkedDecoder.Decode(protocol, stream, random, out var leftover);
            Assert.Equal(0, leftover);
            Assert.Equal(stream, decoded.SelectMany(m => m).ToArray());
            Assert.All(decoded, m => Assert.InRange(m.Length, 1, protocol.MaxChunkSize));
        }
    }

    [Fact]
    public void An_invalid_header_at_frame_k_fails_at_frame_k_for_every_cut()
    {
        var random = new Random(6000);
        for (var i = 0; i < Cases; i++)
        {
            var max = random.Next(1, 2000);
            var protocol = new LengthPrefixedProtocol(4, maxFrameSize: max);
            var payloads = RandomPayloads(random, max);
            var writer = new ArrayBufferWriter<byte>();
            foreach (var payload in payloads)
            {
                protocol.Pack(new ReadOnlySequence<byte>(payload), writer);
            }

            // Frame k declares max + 1 bytes; valid frames follow it, and must never be decoded.
            var stream = writer.WrittenSpan.ToArray().Concat(new byte[] { 0, 0, (byte)((max + 1) >> 8), (byte)(max + 1) }).Concat(new byte[64]).ToArray();
            var decoded = new List<byte[]>();
            var error = Record.Exception(() => decoded.AddRange(ChunkedDecoder.Decode(protocol, stream, random, out _, onMessage: decoded.Add)));
            Assert.IsType<FrameTooLargeException>(error);
            AssertSameMessages(payloads, decoded, $"case {i}");
        }
    }

    private static void AssertRoundTrip(IProtocol<ReadOnlySequence<byte>> protocol, List<byte[]> payloads, Random random, string what)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var payload in payloads)
        {
            protocol.Pack(new ReadOnlySequence<byte>(payload), writer);
        }

        var decoded = ChunkedDecoder.Decode(protocol, writer.WrittenSpan.ToArray(), random, out var leftover);
        Assert.True(leftover == 0, $"{what}: {leftover} bytes left over");
        AssertSameMessages(payloads, decoded, what);
    }

    private static void AssertSameMessages(List<byte[]> expected, List<byte[]> actual, string what)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: expected {expected.Count} messages, got {actual.Count}");
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"{what}: message {i} differs");
        }
    }

    /// <summary>0 to 20 payloads whose sizes favour the edges: 0, 1, max−1, max, or random.</summary>
    private static List<byte[]> RandomPayloads(Random random, int max, byte[]? alphabet = null, byte[]? avoid = null)
    {
        var count = random.Next(0, 20);
        var payloads = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            var size = random.Next(5) switch { 0 => 0, 1 => Math.Min(1, max), 2 => Math.Max(0, max - 1), 3 => max, _ => random.Next(0, max + 1) };
            var payload = alphabet is null ? RandomBytes(random, size) : Enumerable.Range(0, size).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray();
            if (avoid is not null)
            {
                // Keep the delimiter's bytes out of the content, so the content can never contain or complete it.
                for (var j = 0; j < payload.Length; j++)
                {
                    if (Array.IndexOf(avoid, payload[j]) >= 0)
                    {
                        payload[j] = (byte)'x';
                    }
                }
            }

            payloads.Add(payload);
        }

        return payloads;
    }

    private static byte[] RandomBytes(Random random, int size)
    {
        var bytes = new byte[size];
        random.NextBytes(bytes);
        return bytes;
    }
}
