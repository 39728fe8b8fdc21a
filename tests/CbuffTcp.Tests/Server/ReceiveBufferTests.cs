using System.Buffers;
using CbuffTcp.Connections;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// The receive buffer that sits between the socket and the protocol: it holds exactly the bytes not yet consumed, in
/// order, however reads and consumption interleave; it never grows past what a read needs or its limit, nor offers a read room past that limit; it gives its
/// array back when the connection waits with it empty; and frames of every size cross it intact on a real connection.
/// </summary>
public class ReceiveBufferTests
{
    [Fact]
    public void Holds_exactly_the_unconsumed_bytes_in_order_under_random_reads_consumes_and_trims()
    {
        var random = new Random(42);
        for (var round = 0; round < 500; round++)
        {
            var pool = new CountingBufferPool();
            var maxLength = random.Next(1_000, 200_000);
            var buffer = new ReceiveBuffer(pool, maxLength);
            // Every byte written is the one after the last, so the unconsumed bytes are described by the first and a count.
            byte first = 0;
            var held = 0;
            var largestNeed = 0; // the most bytes held plus room asked for since the buffer last held nothing
            for (var step = 0; step < 50; step++)
            {
                var room = maxLength - buffer.Length;
                if (room == 0)
                {
                    break; // full: a connection refuses its input before this, so the round ends here
                }

                var readSize = random.Next(2) == 0 ? 4096 : random.Next(1, 300_000);
                largestNeed = Math.Max(largestNeed, buffer.Length + readSize);
                var memory = buffer.GetReadMemory(readSize);
                Assert.True(memory.Length >= Math.Min(readSize, room), $"asked room for {readSize} bytes ({room} left under the limit), got {memory.Length}");
                Assert.True(memory.Length <= room, $"offered {memory.Length} bytes with {buffer.Length} held: past the limit of {maxLength}");
                Assert.True(pool.OutstandingBytes <= Math.Max(largestNeed, maxLength), $"holds {pool.OutstandingBytes} bytes; needed {largestNeed} at most, limit {maxLength}");

                var received = random.Next(1, Math.Min(memory.Length, readSize) + 1);
                for (var i = 0; i < received; i++)
                {
                    memory.Span[i] = (byte)(first + held + i);
                }

                held += received;

                buffer.Advance(received);
                var consume = random.Next(4) switch
                {
                    0 => buffer.Length, // everything decoded
                    1 => 0, // a partial frame only
                    _ => random.Next(buffer.Length + 1),
                };
                buffer.Consume(consume);
                first = (byte)(first + consume);
                held -= consume;
                if (held == 0)
                {
                    largestNeed = 0;
                }
                var waits = random.Next(3) == 0;
                if (waits)
                {
                    buffer.TrimForWait();
                }

                var data = buffer.Data.ToArray();
                Assert.Equal(held, data.Length);
                for (var i = 0; i < data.Length; i++)
                {
                    if (data[i] != (byte)(first + i))
                    {
                        Assert.Fail($"byte {i} of {held} is {data[i]}, expected {(byte)(first + i)}");
                    }
                }

                // One array while holding bytes; when empty, none once it waits (kept between reads while busy).
                Assert.Equal(held > 0 ? 1 : waits ? 0 : pool.Outstanding, pool.Outstanding);
                Assert.InRange(pool.Outstanding, 0, 1);
            }

            buffer.Release();
            pool.AssertAllReturned();
        }
    }

    [Fact]
    public void A_read_never_gets_room_past_the_limit_even_in_a_larger_pooled_array()
    {
        // The shared pool rounds up to a power of two: a 100,000-byte limit comes in a 131,072-byte array.
        var buffer = new ReceiveBuffer(ArrayPool<byte>.Shared, 100_000);
        buffer.GetReadMemory(4096);
        buffer.Advance(4096);
        var grown = buffer.GetReadMemory(ConnectionSettings.MaxReadSize);
        Assert.Equal(100_000 - 4096, grown.Length);
        buffer.Advance(56_000);

        var memory = buffer.GetReadMemory(ConnectionSettings.MaxReadSize);

        Assert.Equal(100_000 - 60_096, memory.Length);
        buffer.Release();
    }

    [Fact]
    public void A_busy_connection_reads_into_the_same_array_and_gives_it_back_when_it_waits_empty()
    {
        var pool = new CountingBufferPool();
        var buffer = new ReceiveBuffer(pool, 1 << 20);
        var first = buffer.GetReadMemory(4096);
        buffer.Advance(100);
        buffer.Consume(100);

        var next = buffer.GetReadMemory(4096);

        Assert.True(next.Span.Overlaps(first.Span, out var offset) && offset == 0, "the next read should start at the front of the same array");
        Assert.Equal(1, pool.Outstanding);
        buffer.TrimForWait();
        Assert.Equal(0, pool.Outstanding);
        pool.AssertAllReturned();
    }

    [Fact]
    public void A_burst_starts_with_an_array_as_large_as_the_last_burst_was()
    {
        // A bulk sender's connection waits between bursts: growing a small array again each time copied its data at
        // every doubling.
        var pool = new CountingBufferPool();
        var buffer = new ReceiveBuffer(pool, 1 << 20);
        for (var read = 0; read < 3; read++)
        {
            buffer.GetReadMemory(ConnectionSettings.MaxReadSize);
            buffer.Advance(100_000);
        }

        buffer.Consume(300_000);
        buffer.TrimForWait();
        Assert.Equal(0, pool.Outstanding);

        Assert.True(buffer.GetReadMemory(ConnectionSettings.MinReadSize).Length >= 300_000, "the next burst should start with room for as much as the last one");
        buffer.Advance(10);
        buffer.Consume(10);
        buffer.TrimForWait();

        Assert.Equal(ConnectionSettings.MinReadSize, buffer.GetReadMemory(ConnectionSettings.MinReadSize).Length); // after a small burst, a small array again
        buffer.Release();
        pool.AssertAllReturned();
    }

    [Fact]
    public void A_small_partial_frame_moves_to_a_small_array_before_a_wait()
    {
        var pool = new CountingBufferPool();
        var buffer = new ReceiveBuffer(pool, 1 << 20);
        buffer.GetReadMemory(4096).Span[..10].Fill(7);
        buffer.Advance(10);
        Assert.Equal(4096, pool.OutstandingBytes);

        buffer.TrimForWait();

        Assert.Equal(ReceiveBuffer.MinTrimmedSize, pool.OutstandingBytes);
        Assert.Equal(Enumerable.Repeat((byte)7, 10), buffer.Data.ToArray());
        buffer.Release();
        buffer.Release();
        pool.AssertAllReturned();
    }

    [Fact]
    public void A_large_partial_frame_keeps_its_array_before_a_wait()
    {
        // A bulk sender's connection waits between reads holding most of a frame: moving it out and back at every
        // wait would copy it twice per wait.
        var pool = new CountingBufferPool();
        var buffer = new ReceiveBuffer(pool, 1 << 20);
        var memory = buffer.GetReadMemory(ConnectionSettings.MaxReadSize);
        memory.Span[..(ReceiveBuffer.MaxTrimmedLength + 1)].Fill(9);
        buffer.Advance(ReceiveBuffer.MaxTrimmedLength + 1);
        var held = pool.OutstandingBytes;

        buffer.TrimForWait();

        Assert.Equal(held, pool.OutstandingBytes);
        Assert.Equal(Enumerable.Repeat((byte)9, ReceiveBuffer.MaxTrimmedLength + 1), buffer.Data.ToArray());
        buffer.Release();
        pool.AssertAllReturned();
    }

    [Fact]
    public async Task Frames_from_empty_to_the_frame_limit_cut_anywhere_echo_intact_and_every_array_returns()
    {
        var options = new TcpServerOptions { SendQueueMaxBytes = 16 * 1024 * 1024 };
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler(), options);
        using var client = await fixture.ConnectAsync();
        var random = new Random(7);
        var payloads = new[] { 0, 1, 4091, 4092, 65531, 65536, 70_000, 300_000, 1024 * 1024 }
            .Concat(Enumerable.Range(0, 20).Select(_ => random.Next(0, 200_000)))
            .Select(size => Enumerable.Range(0, size).Select(_ => (byte)random.Next(256)).ToArray())
            .ToArray();
        var stream = payloads.SelectMany(p => WireClient.LengthFrame(p)).ToArray();

        var reading = Task.Run(async () =>
        {
            foreach (var payload in payloads)
            {
                Assert.Equal(payload, await client.ReadLengthFrameAsync(TimeSpan.FromSeconds(20)));
            }
        });
        for (var offset = 0; offset < stream.Length;)
        {
            // Cuts from one byte to a few hundred kilobytes: frames split mid-header, mid-payload and many per read.
            var take = Math.Min(stream.Length - offset, random.Next(3) == 0 ? random.Next(1, 16) : random.Next(1, 400_000));
            await client.SendAsync(stream.AsMemory(offset, take));
            offset += take;
        }

        await reading.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
