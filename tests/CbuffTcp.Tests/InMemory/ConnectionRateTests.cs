using System.Buffers;
using System.Diagnostics;
using System.Net;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CbuffTcp.Tests.InMemory;

/// <summary>
/// <see cref="TcpServerOptions.ConnectionRatePerIp"/>: a flood of connects from one address is limited to its rate
/// (System.Threading.RateLimiting token buckets) while another address connects at once; refusals are counted with
/// their own limit tag; behind a trusted PROXY balancer the named clients are limited, not the balancer.
/// </summary>
public class ConnectionRateTests
{
    [Fact]
    public async Task A_flood_from_one_address_is_held_to_its_rate_while_another_address_connects()
    {
        using var meters = new TestMeterFactory();
        var handler = new EchoHandler();
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), handler, new TcpServerOptions { ConnectionRatePerIp = 5, MeterFactory = meters });
        using var rejected = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.rejected_connections");
        var flooder = IPAddress.Parse("10.0.0.1");

        var clock = Stopwatch.StartNew();
        var peers = Enumerable.Range(0, 50).Select(i => host.Connect(new IPEndPoint(flooder, 20_000 + i))).ToList();
        var seconds = Math.Ceiling(clock.Elapsed.TotalSeconds);
        var admitted = peers.Count(p => p.Connection is not null);

        Assert.InRange(admitted, 5, 5 + (5 * seconds)); // the bucket's 5, plus 5 for each second the flood took
        using var other = host.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 20_000));
        Assert.NotNull(other.Connection);
        await other.WriteAsync("still served\n"u8.ToArray());
        Assert.Equal("still served", System.Text.Encoding.UTF8.GetString((await other.ReceiveAsync()).ToArray()));

        Assert.Equal(50 - admitted, host.Server.RejectedConnections);
        Assert.All(rejected.GetMeasurementSnapshot(), m => Assert.Equal("connection_rate_per_ip", m.Tags["cbufftcp.limit"]));
        Assert.Equal(50 - admitted, rejected.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Contains("opened more than 5 connections in a second", (await handler.WaitForAsync("error")).Text, StringComparison.Ordinal);
        peers.ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_clients_it_names_are_limited_not_the_proxy()
    {
        await using var host = await InMemoryServer.StartAsync(new LineProtocol(), new EchoHandler(), new TcpServerOptions { ConnectionRatePerIp = 1, ProxyProtocol = new ProxyProtocolOptions().Trust("127.0.0.1") });
        var served = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        for (var i = 0; i < 10; i++)
        {
            var peer = host.Connect(new IPEndPoint(IPAddress.Loopback, 30_000 + i)); // ten connects from the balancer in a row
            await peer.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"PROXY TCP4 198.51.100.{i + 1} 192.0.2.1 4000 9000\r\nhi\n"));
            Assert.Equal("hi", System.Text.Encoding.UTF8.GetString((await peer.ReceiveAsync()).ToArray()));
            served.Add(peer);
        }

        using var again = host.Connect(new IPEndPoint(IPAddress.Loopback, 30_100));
        await again.WriteAsync("PROXY TCP4 198.51.100.1 192.0.2.1 4001 9000\r\nhi\n"u8.ToArray()); // the first client, again at once
        Assert.Equal(ConnectionEnd.Reset, await again.WaitForEndAsync());
        served.ForEach(p => p.Dispose());
    }

    [Fact]
    public void A_rate_below_one_is_refused_at_start()
    {
        var server = new TcpServer<ReadOnlySequence<byte>>(new LineProtocol(), new EchoHandler(), new TcpServerOptions { ConnectionRatePerIp = 0 });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => server.StartAsync(0).GetAwaiter().GetResult());
        Assert.Equal("ConnectionRatePerIp", error.ParamName);
    }
}
