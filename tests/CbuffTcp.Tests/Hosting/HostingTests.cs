using System.Buffers;
using System.Net;
using CbuffTcp.Hosting;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;

namespace CbuffTcp.Tests.Hosting;

/// <summary>AddCbuffTcpServer on a real generic host: configuration, validation, DI, lifecycle, logging and metrics.</summary>
public class HostingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_server_starts_and_stops_with_the_host_and_its_handler_sends_through_the_injected_server()
    {
        using var host = BuildHost(new() { ["CbuffTcp:Port"] = "0", ["CbuffTcp:Server:MaxConnections"] = "7", ["CbuffTcp:Server:IoMode"] = "IoThreads" });
        await host.StartAsync().WaitAsync(Bound);
        var server = host.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();
        Assert.Equal(ServerStatus.Running, server.Status);
        Assert.Equal(7, server.ConnectionLimit); // bound from configuration
        Assert.Equal(IoMode.IoThreads, server.IoMode);

        using (var client = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint!))
        {
            await client.SendLengthFrameAsync("ping"u8);
            Assert.Equal("ping"u8.ToArray(), await client.ReadLengthFrameAsync());
        }

        await host.StopAsync().WaitAsync(Bound);
        Assert.Equal(ServerStatus.Closed, server.Status);
    }

    [Fact]
    public async Task The_server_measures_through_the_hosts_meter_factory()
    {
        using var host = BuildHost(new() { ["CbuffTcp:Port"] = "0" });
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var active = new MetricCollector<long>(meters, CbuffTcpTelemetry.MeterName, "cbufftcp.active_connections");
        await host.StartAsync().WaitAsync(Bound);
        var server = host.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();

        using (var client = await WireClient.ConnectAsync((IPEndPoint)server.LocalEndPoint!))
        {
            await client.SendLengthFrameAsync("x"u8);
            await client.ReadLengthFrameAsync();
            active.RecordObservableInstruments();
            Assert.Equal(1, active.LastMeasurement!.Value);
        }

        await host.StopAsync().WaitAsync(Bound);
    }

    [Theory]
    [InlineData("CbuffTcp:Port", "70000", "Port")]
    [InlineData("CbuffTcp:Server:MaxConnections", "0", "MaxConnections")]
    [InlineData("CbuffTcp:Server:IdleTimeout", "-00:00:01", "IdleTimeout")]
    public async Task Bad_options_fail_the_host_at_start_naming_the_option(string key, string value, string option)
    {
        using var host = BuildHost(new() { [key] = value });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Bound));
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_without_a_handler_says_what_to_call()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddCbuffTcpServer<ReadOnlySequence<byte>>().UseProtocol(new LengthPrefixedProtocol());
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>());
        Assert.Contains("UseHandler", error.Message, StringComparison.Ordinal);
    }

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMetrics();
        builder.Services.AddCbuffTcpServer<ReadOnlySequence<byte>>()
            .UseProtocol<LengthPrefixedProtocol>()
            .UseHandler<InjectedEchoHandler>();
        return builder.Build();
    }

    /// <summary>Echoes through the connection it is handed: a handler built by DI needs nothing of the server.</summary>
    public sealed class InjectedEchoHandler : TcpHandler<ReadOnlySequence<byte>>
    {
        public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            foreach (var message in messages)
            {
                connection.Send(message);
            }

            return ValueTask.CompletedTask;
        }
    }
}
