using System.Buffers;
using System.Net;
using CbuffTcp.Connections;

namespace CbuffTcp.Benchmarks;

/// <summary>Connections that are never run: enough to fill a registry.</summary>
internal static class RegistryFixture
{
    public static IEnumerable<TcpConnection<int>> Connections(int count)
    {
        var handler = new NullHandler();
        var protocol = new IntProtocol();
        var settings = ConnectionSettings.From(new TcpServerOptions(), ((IProtocol<int>)protocol).MaxFrameSize);
        var packer = new MessagePacker<int>(protocol, handler, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        for (var id = 1; id <= count; id++)
        {
            yield return new TcpConnection<int>(id, new NullTransport(), protocol, handler, packer, settings);
        }
    }

    private sealed class NullHandler : TcpHandler<int>
    {
    }

    private sealed class IntProtocol : IProtocol<int>
    {
        public bool TryDepack(ref ReadOnlySequence<byte> input, out int message)
        {
            message = 0;
            return false;
        }

        public void Pack(in int message, IBufferWriter<byte> output)
        {
        }
    }

    private sealed class NullTransport() : ConnectionTransport(new IPEndPoint(IPAddress.Loopback, 1), new IPEndPoint(IPAddress.Loopback, 2))
    {
        public override ValueTask<int> WaitForDataAsync() => ValueTask.FromResult(0);

        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => ValueTask.FromResult(0);

        public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer) => ValueTask.CompletedTask;

        public override void Shutdown()
        {
        }

        public override void Abort()
        {
        }

        public override void Dispose()
        {
        }
    }
}
