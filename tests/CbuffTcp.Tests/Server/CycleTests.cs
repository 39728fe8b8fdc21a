using System.Buffers;
using System.Net.Sockets;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>Fault 15: many connect/send/close cycles leave nothing behind. CBUFF_CYCLES overrides the count.</summary>
[Collection(RunsAlone.Name)]
public class CycleTests(ITestOutputHelper output)
{
    private const int Loops = 8;

    [Fact]
    public async Task Connect_send_close_cycles_give_one_disconnect_per_connect_and_return_to_the_baseline()
    {
        var cycles = int.TryParse(Environment.GetEnvironmentVariable("CBUFF_CYCLES"), out var n) ? n : 100_000;
        var handler = new CountingHandler();
        await using var fixture = await ServerFixture<CountingHandler>.StartAsync(handler);
        // Half the cycles warm up (JIT, pools, the thread pool, the registry's capacity), half are measured: what
        // the second half leaves behind is what a connection leaks.
        var half = cycles / 2;
        await RunCyclesAsync(fixture, half);
        await WaitForAsync(() => handler.Disconnects == handler.Connects && fixture.Server.ClientCount == 0, "the first half closed");
        var descriptorsBefore = OpenDescriptors();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        await RunCyclesAsync(fixture, cycles - half);
        await WaitForAsync(() => handler.Disconnects == handler.Connects && fixture.Server.ClientCount == 0, "every cycle closed");

        var descriptorsAfter = OpenDescriptors();
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"{cycles:N0} cycles: {handler.Connects:N0} connects, {handler.Disconnects:N0} disconnects, {handler.Messages:N0} messages; over the second half: descriptors {descriptorsBefore} -> {descriptorsAfter}, managed heap {heapBefore / 1024:N0} KiB -> {heapAfter / 1024:N0} KiB");
        Assert.Equal(cycles, handler.Connects);
        Assert.Equal(handler.Connects, handler.Disconnects);
        Assert.Equal(cycles, handler.Messages);
        Assert.Equal(0, fixture.Pool.Outstanding);
        Assert.InRange(descriptorsAfter, 0, descriptorsBefore + 16); // other tests run alongside: a little slack
        Assert.InRange(heapAfter, 0, heapBefore + (2 * 1024 * 1024)); // 50,000 connections: 40 bytes kept by each would show
    }

    private static async Task RunCyclesAsync(ServerFixture<CountingHandler> fixture, int cycles)
    {
        var next = 0;
        var frame = WireClient.LengthFrame("cycle"u8);
        await Task.WhenAll(Enumerable.Range(0, Loops).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) <= cycles)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(fixture.EndPoint);
                await socket.SendAsync(frame);
                socket.Shutdown(SocketShutdown.Send);
                await socket.ReceiveAsync(new byte[1]); // wait for the server's FIN: it closes first, so no TIME_WAIT here
            }
        })));
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>Counts events instead of recording them: 100,000 connections' worth of records would be the leak.</summary>
    public sealed class CountingHandler : RecordingHandler
    {
        private long _connects;
        private long _disconnects;
        private long _messages;

        public long Connects => Interlocked.Read(ref _connects);

        public long Disconnects => Interlocked.Read(ref _disconnects);

        public long Messages => Interlocked.Read(ref _messages);

        public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
        {
            Interlocked.Increment(ref _connects);
            return ValueTask.CompletedTask;
        }

        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<System.Buffers.ReadOnlySequence<byte>> messages)
        {
            Interlocked.Add(ref _messages, messages.Count);
            return ValueTask.CompletedTask;
        }

        public override ValueTask OnDisconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
        {
            Interlocked.Increment(ref _disconnects);
            return ValueTask.CompletedTask;
        }
    }
}
