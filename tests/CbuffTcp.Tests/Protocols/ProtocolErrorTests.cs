using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Protocols;

public class ProtocolErrorTests
{
    [Theory]
    [InlineData(4, 1024L, 1025UL)]
    [InlineData(4, 1024L, (ulong)int.MaxValue)]
    [InlineData(4, 1024L, uint.MaxValue)]
    [InlineData(8, 1024L, (ulong)long.MaxValue)]
    [InlineData(8, 1024L, ulong.MaxValue)]
    [InlineData(2, 100L, 101UL)]
    public void Length_header_past_the_limit_fails_as_soon_as_the_header_arrives(int headerSize, long max, ulong declared)
    {
        var protocol = new LengthPrefixedProtocol(headerSize, maxFrameSize: (int)max);
        var header = new byte[headerSize];
        if (headerSize == 8) BinaryPrimitives.WriteUInt64BigEndian(header, declared);
        else if (headerSize == 4) BinaryPrimitives.WriteUInt32BigEndian(header, (uint)declared);
        else BinaryPrimitives.WriteUInt16BigEndian(header, (ushort)declared);

        // Only the header is here: nothing of the frame's declared size exists, and the error is immediate.
        var buffer = new ReadOnlySequence<byte>(header);
        var error = Assert.Throws<FrameTooLargeException>(() => protocol.TryDepack(ref buffer, out _));
        Assert.Equal(max, error.MaxFrameSize);
        Assert.Contains("exceeds the maximum frame size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_partial_header_is_not_an_error()
    {
        var protocol = new LengthPrefixedProtocol(4);
        var buffer = new ReadOnlySequence<byte>([0, 0, 0]);
        Assert.False(protocol.TryDepack(ref buffer, out _));
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void Length_that_includes_header_but_is_shorter_than_it_is_a_protocol_error()
    {
        var protocol = new LengthPrefixedProtocol(4, lengthIncludesHeader: true);
        var buffer = new ReadOnlySequence<byte>([0, 0, 0, 3]);
        var error = Assert.Throws<ProtocolException>(() => protocol.TryDepack(ref buffer, out _));
        Assert.Contains("less than the 4-byte header", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Line_that_never_ends_fails_once_past_the_limit()
    {
        var protocol = new LineProtocol(maxLineLength: 10);
        var ok = new ReadOnlySequence<byte>("0123456789\r"u8.ToArray());
        Assert.False(protocol.TryDepack(ref ok, out _)); // 10 bytes + a possible \r of \r\n: still may be valid

        var tooLong = new ReadOnlySequence<byte>("0123456789ab"u8.ToArray());
        Assert.Throws<FrameTooLargeException>(() => protocol.TryDepack(ref tooLong, out _));

        var complete = new ReadOnlySequence<byte>("0123456789a\n"u8.ToArray());
        Assert.Throws<FrameTooLargeException>(() => protocol.TryDepack(ref complete, out _));
    }

    [Fact]
    public void Pack_refuses_what_the_peer_would_refuse()
    {
        var writer = new ArrayBufferWriter<byte>();
        Assert.Throws<FrameTooLargeException>(() => new LengthPrefixedProtocol(1).Pack(new ReadOnlySequence<byte>(new byte[256]), writer));
        Assert.Throws<FrameTooLargeException>(() => new LengthPrefixedProtocol(4, maxFrameSize: 8).Pack(new ReadOnlySequence<byte>(new byte[9]), writer));
        Assert.Throws<ProtocolException>(() => new FixedSizeProtocol(4).Pack(new ReadOnlySequence<byte>(new byte[3]), writer));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public void Options_are_checked_when_the_protocol_is_made()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LengthPrefixedProtocol(3));
        Assert.Throws<ArgumentException>(() => new DelimiterProtocol(ReadOnlySpan<byte>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FixedSizeProtocol(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RawProtocol(0));
    }

    [Fact]
    public void Little_endian_and_header_counting_headers_are_written_as_declared()
    {
        var writer = new ArrayBufferWriter<byte>();
        new LengthPrefixedProtocol(2, bigEndian: false, lengthIncludesHeader: true).Pack(new ReadOnlySequence<byte>("abc"u8.ToArray()), writer);
        Assert.Equal(new byte[] { 5, 0, (byte)'a', (byte)'b', (byte)'c' }, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Multi_segment_header_is_read_correctly()
    {
        var protocol = new LengthPrefixedProtocol(4);
        var buffer = Segments.Of([new byte[] { 0, 0 }, new byte[] { 0 }, new byte[] { 2, 7 }, new byte[] { 9, 1 }]);
        Assert.True(protocol.TryDepack(ref buffer, out var message));
        Assert.Equal(new byte[] { 7, 9 }, message.ToArray());
        Assert.Equal(1, buffer.Length);
    }
}
