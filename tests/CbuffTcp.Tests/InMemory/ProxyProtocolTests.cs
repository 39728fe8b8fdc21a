using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.InMemory;

/// <summary>
/// The PROXY protocol on the server's connections, in memory: a trusted proxy's header names the client before
/// <c>OnConnectedAsync</c>, for the handler, the per-IP limit and <c>RemoteAddress</c>; a header from anyone else, a
/// missing one when required, a malformed or late one, are refused before any handler call; bytes after the header
/// are the connection's first data; nothing pooled is left behind (the fixture's counting pool).
/// </summary>
public class ProxyProtocolTests
{
    private static readonly IPEndPoint Proxy = new(IPAddress.Loopback, 40_000);
    private static readonly IPEndPoint Stranger = new(IPAddress.Parse("10.1.2.3"), 40_001);

    [Fact]
    public async Task A_trusted_proxys_v1_header_names_the_client_before_OnConnected_and_the_data_behind_it_is_served()
    {
        await using var fixture = await StartAsync(new ProxyProtocolOptions().Trust("127.0.0.1"));
        using var peer = fixture.Host.Connect(Proxy);
        await peer.WriteAsync("PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\nhello\n"u8.ToArray());

        Assert.Equal("hello", Text(await peer.ReceiveAsync()));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 56324), fixture.Handler.SeenAtConnect[peer.ClientId]);
        Assert.Equal("203.0.113.7", peer.Connection!.RemoteAddress);
        Assert.Equal(1, peer.Connection.ProxyHeader!.Version);
    }

    [Fact]
    public async Task A_v2_header_arriving_in_pieces_is_read_whole_with_its_fields()
    {
        await using var fixture = await StartAsync(new ProxyProtocolOptions().Trust("127.0.0.0/8"));
        using var peer = fixture.Host.Connect(Proxy);
        byte[] header = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 12 + 7,
            198, 51, 100, 9, 192, 0, 2, 1, 0x9C, 0x40, 0x01, 0xBB, 0x02, 0x00, 0x04, (byte)'c', (byte)'h', (byte)'a', (byte)'t'];
        foreach (var piece in header.Chunk(5))
        {
            await peer.WriteAsync(piece);
        }

        await peer.WriteAsync("hi\n"u8.ToArray());
        Assert.Equal("hi", Text(await peer.ReceiveAsync()));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 40000), fixture.Handler.SeenAtConnect[peer.ClientId]);
        Assert.Equal("chat", peer.Connection!.ProxyHeader!.Authority);
    }

    [Fact]
    public async Task A_header_from_a_peer_that_is_not_a_trusted_proxy_is_refused_before_any_handler_call()
    {
        await using var fixture = await StartAsync(new ProxyProtocolOptions().Trust("127.0.0.1"));
        using var peer = fixture.Host.Connect(Stranger);
        await peer.WriteAsync("PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\nhello\n"u8.ToArray());

        Assert.Equal(ConnectionEnd.Reset, await peer.WaitForEndAsync());
        var error = await fixture.Handler.WaitForAsync("error");
        Assert.Contains("10.1.2.3:40001, which is not a trusted proxy", error.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Handler.Events, e => e.Kind is "connected" or "disconnected");
        Assert.Equal(1, fixture.Server.RejectedConnections);
    }

    [Fact]
    public async Task Without_Required_a_peer_that_sends_no_header_is_served_as_itself_and_with_it_refused()
    {
        await using (var optional = await StartAsync(new ProxyProtocolOptions().Trust("127.0.0.1")))
        {
            using var peer = optional.Host.Connect(Stranger);
            await peer.WriteAsync("direct\n"u8.ToArray());
            Assert.Equal("direct", Text(await peer.ReceiveAsync()));
            Assert.Equal(Stranger, optional.Handler.SeenAtConnect[peer.ClientId]);
            Assert.Null(peer.Connection!.ProxyHeader);
        }

        await using var required = await StartAsync(new ProxyProtocolOptions { Required = true }.Trust("127.0.0.1"));
        using (var proxyWithoutHeader = required.Host.Connect(Proxy))
        {
            await proxyWithoutHeader.WriteAsync("no header\n"u8.ToArray());
            Assert.Equal(ConnectionEnd.Reset, await proxyWithoutHeader.WaitForEndAsync());
            Assert.Contains("one is required", (await required.Handler.WaitForAsync("error")).Text, StringComparison.Ordinal);
        }

        using var stranger = required.Host.Connect(Stranger);
        Assert.Equal(ConnectionEnd.Reset, await stranger.WaitForEndAsync()); // refused before it sends anything
        Assert.DoesNotContain(required.Handler.Events, e => e.Kind == "connected");
    }

    [Fact]
    public async Task The_per_ip_limit_counts_the_client_the_header_names_not_the_proxy()
    {
        await using var fixture = await StartAsync(new ProxyProtocolOptions().Trust("127.0.0.1"), maxConnectionsPerIp: 1);
        using var first = fixture.Host.Connect(Proxy);
        await first.WriteAsync("PROXY TCP4 198.51.100.1 192.0.2.1 1000 9000\r\none\n"u8.ToArray());
        Assert.Equal("one", Text(await first.ReceiveAsync()));

        using var sameClient = fixture.Host.Connect(new IPEndPoint(IPAddress.Loopback, 40_002));
        await sameClient.WriteAsync("PROXY TCP4 198.51.100.1 192.0.2.1 1001 9000\r\ntwo\n"u8.ToArray());
        Assert.Equal(ConnectionEnd.Reset, await sameClient.WaitForEndAsync());

        using var otherClient = fixture.Host.Connect(new IPEndPoint(IPAddress.Loopback, 40_003)); // the same proxy address
        await otherClient.WriteAsync("PROXY TCP4 198.51.100.2 192.0.2.1 1002 9000\r\nthree\n"u8.ToArray());
        Assert.Equal("three", Text(await otherClient.ReceiveAsync()));
    }

    [Fact]
    public async Task A_header_that_does_not_finish_within_the_timeout_is_refused_and_a_malformed_one_at_once()
    {
        var time = new FakeTimeProvider();
        await using var fixture = await StartAsync(new ProxyProtocolOptions { HeaderTimeout = TimeSpan.FromSeconds(5) }.Trust("127.0.0.1"), time: time);
        using var slow = fixture.Host.Connect(Proxy);
        await slow.WriteAsync("PROXY TCP4 203.0."u8.ToArray());
        var ended = slow.WaitForEndAsync();
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(await Completes(ended, TimeSpan.FromMilliseconds(200)), "refused before its timeout"); // (the timer starts with the connection's first step)
        for (var i = 0; i < 50 && !ended.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(0.5)); // from its first step, wherever that fell against the advance above
            await Completes(ended, TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(ConnectionEnd.Reset, await ended);
        Assert.Contains("no complete PROXY protocol header within 5 s", (await fixture.Handler.WaitForAsync("error")).Text, StringComparison.Ordinal);

        using var malformed = fixture.Host.Connect(new IPEndPoint(IPAddress.Loopback, 40_004));
        await malformed.WriteAsync("PROXY TCP4 203.0.113.7 192.0.2.1 99999 9000\r\n"u8.ToArray());
        Assert.Equal(ConnectionEnd.Reset, await malformed.WaitForEndAsync());
        Assert.Equal(2, fixture.Server.RejectedConnections);
    }

    private static Task<InMemoryFixture<AddressRecordingHandler>> StartAsync(ProxyProtocolOptions proxy, int maxConnectionsPerIp = 100, TimeProvider? time = null) =>
        InMemoryFixture<AddressRecordingHandler>.StartAsync(
            new AddressRecordingHandler(),
            new TcpServerOptions { ProxyProtocol = proxy, MaxConnectionsPerIp = maxConnectionsPerIp, TimeProvider = time ?? TimeProvider.System },
            new LineProtocol());

    private static async Task<bool> Completes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;

    private static string Text(ReadOnlySequence<byte> message) => Encoding.UTF8.GetString(message);

    /// <summary>Echoes, and keeps the address each connection had when <c>OnConnectedAsync</c> ran.</summary>
    public sealed class AddressRecordingHandler : EchoHandler
    {
        public ConcurrentDictionary<long, EndPoint?> SeenAtConnect { get; } = new();

        protected override ValueTask OnConnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection)
        {
            SeenAtConnect[connection.Id] = connection.RemoteEndPoint;
            return ValueTask.CompletedTask;
        }
    }
}
