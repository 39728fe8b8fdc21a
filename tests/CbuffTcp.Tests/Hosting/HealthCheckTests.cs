using System.Buffers;
using System.Net;
using CbuffTcp.Hosting;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace CbuffTcp.Tests.Hosting;

/// <summary>The hosted server's health check in each state: not running, running, near its connection limit, its backplane down.</summary>
public class HealthCheckTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task It_is_unhealthy_before_the_start_healthy_while_running_and_unhealthy_once_stopped()
    {
        using var host = BuildHost(maxConnections: 100);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var before = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, before.Status);
        Assert.Contains("Closed", before.Entries["cbufftcp"].Description, StringComparison.Ordinal);

        await host.StartAsync().WaitAsync(Bound);
        var running = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, running.Status);
        Assert.Equal(0, running.Entries["cbufftcp"].Data["clients"]);
        Assert.Equal(100, running.Entries["cbufftcp"].Data["connection_limit"]);

        await host.StopAsync().WaitAsync(Bound);
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync()).Status);
    }

    [Fact]
    public async Task It_is_degraded_near_the_connection_limit()
    {
        using var host = BuildHost(maxConnections: 2);
        await host.StartAsync().WaitAsync(Bound);
        var server = host.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        using var first = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint!);
        await first.SendLengthFrameAsync("one"u8);
        await first.ReadLengthFrameAsync(); // admitted and served
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Status); // 1 of 2: under 90 %

        using var second = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint!);
        await second.SendLengthFrameAsync("two"u8);
        await second.ReadLengthFrameAsync();
        var full = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, full.Status);
        Assert.Contains("2 of 2 connections", full.Entries["cbufftcp"].Description, StringComparison.Ordinal);
        await host.StopAsync().WaitAsync(Bound);
    }

    [Fact]
    public async Task It_is_degraded_while_the_backplane_is_unavailable_and_healthy_again_after()
    {
        var hub = new InMemoryBackplaneHub();
        using var host = BuildHost(maxConnections: 100, backplane: hub.CreateBackplane());
        await host.StartAsync().WaitAsync(Bound);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var server = host.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();
        await WaitUntilAsync(() => server.Cluster!.IsConnected);
        var connected = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, connected.Status);
        Assert.Equal(true, connected.Entries["cbufftcp"].Data["cluster_connected"]);

        hub.IsReachable = false;
        await WaitUntilAsync(() => !server.Cluster!.IsConnected);
        var down = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, down.Status);
        Assert.Contains("backplane", down.Entries["cbufftcp"].Description, StringComparison.Ordinal);

        hub.IsReachable = true;
        await WaitUntilAsync(() => server.Cluster!.IsConnected);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Status);
        await host.StopAsync().WaitAsync(Bound);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1.5)]
    public void A_degraded_ratio_outside_0_to_1_is_refused(double ratio)
    {
        var services = new ServiceCollection();
        var builder = services.AddCbuffTcpServer<ReadOnlySequence<byte>>();
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.AddHealthCheck(degradedAtConnectionRatio: ratio));
    }

    private static IHost BuildHost(int maxConnections, CbuffTcp.ScaleOut.IBackplane? backplane = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["CbuffTcp:Port"] = "0", ["CbuffTcp:Server:MaxConnections"] = maxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        builder.Services.AddCbuffTcpServer<ReadOnlySequence<byte>>()
            .UseProtocol<LengthPrefixedProtocol>()
            .UseHandler<HostingTests.InjectedEchoHandler>()
            .Configure(options => options.Server.Backplane = backplane)
            .AddHealthCheck();
        return builder.Build();
    }

    /// <summary>Waits for a state the backplane reaches on its own task (bounded; the hub's outage is seen at once in practice).</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the cluster did not reach the expected state");
            await Task.Delay(10);
        }
    }
}
