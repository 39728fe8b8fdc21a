using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// AsyncReceive (the seed's feature: callbacks leave the read loop) decodes each message once and bounds what it holds
/// for a client that the handler has not caught up with in bytes, pausing the read loop at the bound.
/// </summary>
public class AsyncReceiveTests
{
    private const int FrameSize = 256 * 1024;

    [Fact]
    public async Task Each_message_is_decoded_once()
    {
        var protocol = new CountingProtocol();
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = true }, protocol);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        var stream = Enumerable.Range(0, 100).SelectMany(i => WireClient.LengthFrame(BitConverter.GetBytes(i))).ToArray();
        await client.SendAsync(stream);
        await handler.WaitUntilAsync(_ => handler.ReceivedBy(fixture.ClientIdOf(client)).Count() == 100, what: "100 messages");

        Assert.Equal(100, protocol.Decoded);
    }

    [Fact]
    public async Task A_handler_that_falls_behind_holds_its_client_to_the_byte_bound_and_then_gets_everything_in_order()
    {
        const int frames = 128; // 32 MiB: far more than the bound and the kernel's buffers together
        var handler = new GatedHandler();
        var options = new TcpServerOptions { AsyncReceive = true, AsyncReceiveQueueMaxBytes = 1024 * 1024 };
        await using var fixture = await ServerFixture<GatedHandler>.StartAsync(handler, options);
        using var client = await fixture.ConnectAsync();
        client.Socket.SendBufferSize = 64 * 1024;
        await handler.WaitForAsync("connected");

        var stream = new byte[frames * (4 + FrameSize)];
        for (var i = 0; i < frames; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(stream.AsSpan(i * (4 + FrameSize)), FrameSize);
            BinaryPrimitives.WriteInt32BigEndian(stream.AsSpan((i * (4 + FrameSize)) + 4), i);
        }

        var sending = client.SendAsync(stream);

        // The handler holds its first batch; the server reads on until its queue holds the bound, then pauses.
        await handler.WaitForAsync("received");
        await UntilTheServerHoldsStillAsync(fixture.Pool, sending);
        Assert.False(sending.IsCompleted, "the server took all 32 MiB while its handler was stuck");
        Assert.True(fixture.Pool.PeakBytes < 4 * 1024 * 1024, $"the server held {fixture.Pool.PeakBytes} bytes for a handler that is behind (bound 1 MiB)");

        handler.Release();
        await sending.WaitAsync(TimeSpan.FromSeconds(30));
        var id = fixture.ClientIdOf(client);
        await handler.WaitUntilAsync(_ => handler.ReceivedBy(id).Count() == frames, timeoutSeconds: 30, what: "every frame");
        Assert.Equal(Enumerable.Range(0, frames), handler.ReceivedBy(id).Select(m => BinaryPrimitives.ReadInt32BigEndian(m)));
    }

    [Fact]
    public async Task A_protocol_that_throws_inside_a_batch_closes_that_client_and_leaks_nothing()
    {
        var protocol = new CountingProtocol { ThrowOnMessage = 3 };
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions { AsyncReceive = true }, protocol);
        using var client = await fixture.ConnectAsync();
        await handler.WaitForAsync("connected");

        await client.SendAsync(Enumerable.Range(0, 10).SelectMany(i => WireClient.LengthFrame(BitConverter.GetBytes(i))).ToArray()); // one read, one batch
        var disconnected = await handler.WaitForAsync("disconnected");

        Assert.Equal(DisconnectReason.ProtocolError, disconnected.Reason!.Value.Reason);
        Assert.Equal(2, handler.ReceivedBy(disconnected.ClientId).Count()); // those decoded before the fault
        await handler.WaitUntilAsync(_ => fixture.Pool.Outstanding == 0, what: "every pooled buffer back"); // and the fixture checks again
    }

    /// <summary>Waits until the server's pooled bytes stop changing (it has read what it will) or the client's send finished.</summary>
    private static async Task UntilTheServerHoldsStillAsync(CountingBufferPool pool, Task sending)
    {
        var still = 0;
        var last = -1L;
        for (var i = 0; i < 400 && still < 5 && !sending.IsCompleted; i++)
        {
            await Task.Delay(50);
            var now = pool.OutstandingBytes;
            still = now == last ? still + 1 : 0;
            last = now;
        }
    }

    /// <summary>Records, and holds its first batch until released: a handler that has fallen behind.</summary>
    public sealed class GatedHandler : RecordingHandler
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _released.TrySetResult();

        protected override async ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages) =>
            await _released.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>The length-prefixed protocol, counting the messages it decodes.</summary>
    public sealed class CountingProtocol : IProtocol<ReadOnlySequence<byte>>
    {
        private readonly LengthPrefixedProtocol _inner = new();
        private int _decoded;

        public int Decoded => Volatile.Read(ref _decoded);

        /// <summary>The 1-based message whose decoding throws; 0 for none.</summary>
        public int ThrowOnMessage { get; init; }

        public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
        {
            if (!_inner.TryDepack(ref buffer, out message))
            {
                return false;
            }

            if (Interlocked.Increment(ref _decoded) == ThrowOnMessage)
            {
                throw new ProtocolException("corrupt message");
            }

            return true;
        }

        public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output) => _inner.Pack(message, output);
    }
}
