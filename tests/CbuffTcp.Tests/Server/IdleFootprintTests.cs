using System.Buffers;
using System.Net;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Xunit.Abstractions;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// What an idle connection costs the server's managed heap: the figure behind the `idle` benchmark cell (server RSS per
/// idle connection at 19,000), where every byte a connection holds counts 19,000 times. The clients run in a second
/// process (`cbuff bench --mode idle`), so the heap measured is the server's alone; alone in its collection, so no other
/// test allocates meanwhile.
/// </summary>
[Collection(RunsAlone.Name)]
public class IdleFootprintTests(ITestOutputHelper output)
{
    private const int Connections = 5000;

    // Measured on 2026-12-07 after the receive loop's state lost 104 bytes per connection (its decode result, two
    // locals, a wider counter): 950-956 on the I/O threads (about 1,055 before: this bound fails there), 1,686-1,691
    // on the thread pool, where the runtime's Socket and its receive state come with each connection.
#if THREAD_POOL
    private const int MaxBytesPerConnection = 1800;
#else
    private const int MaxBytesPerConnection = 1000;
#endif

    [Fact]
    public async Task An_idle_connection_holds_no_more_of_the_servers_managed_heap_than_its_bound()
    {
        var handler = new SilentHandler();
        await using var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler, new TcpServerOptions()); // what a user gets
        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)server.LocalEndPoint!).Port;

        // A first round makes what the first connections make once (JIT, pools, the registry's first tables).
        await HoldIdleAsync(server, port, 1000, measure: null);
        await Eventually.TrueAsync(() => server.ConnectionsNotEnded == 0, "the warm-up connections ended");
        var before = await SettledHeapAsync(); // what a connection's end does after telling the server: a few calls

        long after = 0;
        await HoldIdleAsync(server, port, Connections, measure: () => after = GC.GetTotalMemory(forceFullCollection: true));

        var perConnection = (after - before) / (double)Connections;
        output.WriteLine($"{Connections:N0} idle connections: managed heap {before / 1024:N0} KiB -> {after / 1024:N0} KiB, {perConnection:N0} bytes each");
        Assert.InRange(perConnection, 0, MaxBytesPerConnection);
    }

    /// <summary>The managed heap once two collections 100 ms apart find it within 64 KiB of each other (5 s at most).</summary>
    private static async Task<long> SettledHeapAsync()
    {
        var last = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 50; i++)
        {
            await Task.Delay(100);
            var now = GC.GetTotalMemory(forceFullCollection: true);
            if (Math.Abs(now - last) < 64 * 1024)
            {
                return now;
            }

            last = now;
        }

        throw new TimeoutException($"the managed heap did not settle within 5 s (last {last / 1024:N0} KiB)");
    }

    /// <summary>Connects <paramref name="count"/> idle clients from a `cbuff bench` process; runs <paramref name="measure"/> once the server holds them all.</summary>
    private static async Task HoldIdleAsync(TcpServer<ReadOnlySequence<byte>> server, int port, int count, Action? measure)
    {
        var bench = ServeProcess.RunToEndAsync(
            "bench", "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--mode", "idle", "--connections", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seconds", "4");
        await Eventually.TrueAsync(() => server.ClientCount == count || bench.IsCompleted, $"{count} idle clients connected");
        Assert.Equal(count, server.ClientCount);
        measure?.Invoke();
        var (exitCode, printed) = await bench;
        Assert.True(exitCode == 0, $"cbuff bench failed:\n{printed}");
    }

    /// <summary>Holds nothing per client: what the heap grows by is the framework's.</summary>
    private sealed class SilentHandler : TcpHandler<ReadOnlySequence<byte>>
    {
    }
}
