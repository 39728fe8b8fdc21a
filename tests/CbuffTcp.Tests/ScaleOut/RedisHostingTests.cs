using System.Buffers;
using CbuffTcp.Hosting;
using CbuffTcp.Protocols;
using CbuffTcp.Redis;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>AddRedisBackplane on a real generic host: options bound from configuration, the node joins at start and leaves presence at stop.</summary>
public class RedisHostingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_hosted_server_joins_the_cluster_named_in_configuration_and_leaves_it_with_the_host()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = $"hosted{Guid.NewGuid():N}";
        using var first = BuildHost(redis, prefix);
        using var second = BuildHost(redis, prefix);
        await first.StartAsync().WaitAsync(Bound);
        await second.StartAsync().WaitAsync(Bound);
        var a = first.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();
        var b = second.Services.GetRequiredService<TcpServer<ReadOnlySequence<byte>>>();

        Assert.IsType<RedisBackplane>(first.Services.GetRequiredService<RedisBackplane>());
        await Eventually.TrueAsync(() => a.Cluster is { IsConnected: true, Nodes.Count: 2 } && b.Cluster is { IsConnected: true }, "both hosted nodes joined");
        var nodeB = b.Cluster!.NodeId;
        Assert.Equal(":1\r\n", await redis.CommandAsync($"EXISTS {prefix}:presence:{nodeB}"));

        await second.StopAsync().WaitAsync(Bound);                  // a graceful stop leaves presence at once
        Assert.Single(await a.Cluster!.GetNodesAsync());
        Assert.Equal(":0\r\n", await redis.CommandAsync($"EXISTS {prefix}:presence:{nodeB}"));
        await first.StopAsync().WaitAsync(Bound);
    }

    private static IHost BuildHost(RedisServer redis, string prefix)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CbuffTcp:Port"] = "0",
            ["CbuffTcp:Redis:Configuration"] = redis.Configuration,
            ["CbuffTcp:Redis:ChannelPrefix"] = prefix,
            ["CbuffTcp:Redis:HeartbeatInterval"] = "00:00:00.200",
            ["CbuffTcp:Redis:PresenceExpiry"] = "00:00:01",
        });
        builder.Services.AddCbuffTcpServer<ReadOnlySequence<byte>>()
            .UseProtocol<LineProtocol>()
            .UseHandler<RecordingHandler>()
            .AddRedisBackplane();
        return builder.Build();
    }
}
