using System.Net.Sockets;
using CbuffTcp.Connections;

namespace CbuffTcp.Tests.Tls;

/// <summary>
/// A write pass over TLS hands SslStream as few writes as records: each write is encrypted into its own records and
/// sent at once, so a pass of the queue's small arrays used to be a record and a send per array.
/// </summary>
public class StreamTransportTests
{
    [Fact]
    public async Task A_pass_of_several_arrays_is_joined_into_record_sized_writes_and_flushed_once()
    {
        // A burst of 16 replies of 1,028 bytes sits in the queue's growing arrays: 4,096 + 8,192 + 4,160 bytes.
        var stream = new RecordingStream();
        using var transport = Over(stream);
        SendSegment[] segments = [Segment(4096, 1), Segment(8192, 2), Segment(4160, 3)];

        await transport.SendAsync(segments, segments.Length);

        Assert.Equal([StreamTransport.JoinedLength, 16_448 - StreamTransport.JoinedLength], stream.Writes);
        Assert.Equal(segments.SelectMany(s => s.Memory.ToArray()), stream.Written);
        Assert.Equal(1, stream.FlushesAfterLastWrite);
    }

    [Fact]
    public async Task Small_arrays_go_as_one_write_and_an_array_that_fills_a_record_alone_goes_as_it_is()
    {
        var stream = new RecordingStream();
        using var transport = Over(stream);
        SendSegment[] segments = [Segment(100, 1), Segment(200, 2), Segment(65_536, 3), Segment(50, 4)];

        await transport.SendAsync(segments, 2);
        Assert.Equal([300], stream.Writes);

        stream.Clear();
        await transport.SendAsync(segments[2..], 2); // nothing joined before it: the large array is written directly
        Assert.Equal([65_536, 50], stream.Writes);
        Assert.Equal(segments[2..].SelectMany(s => s.Memory.ToArray()), stream.Written);
    }

    private static StreamTransport Over(Stream stream) =>
        new(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), stream); // never connected: no endpoints

    private static SendSegment Segment(int length, byte seed)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(seed * 31 + i);
        }

        return new SendSegment(bytes, length);
    }

    /// <summary>Keeps what is written, call by call, and counts the flushes since the last write.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly MemoryStream _bytes = new();

        public List<int> Writes { get; } = [];

        public byte[] Written => _bytes.ToArray();

        public int FlushesAfterLastWrite { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Clear()
        {
            Writes.Clear();
            _bytes.SetLength(0);
            FlushesAfterLastWrite = 0;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writes.Add(buffer.Length);
            _bytes.Write(buffer);
            FlushesAfterLastWrite = 0;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            FlushesAfterLastWrite++;
            return Task.CompletedTask;
        }

        public override void Flush() => FlushesAfterLastWrite++;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
