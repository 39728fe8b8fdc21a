using CbuffTcp.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CbuffTcp.Redis;

/// <summary>Scales a hosted CbuffTcp server out through Redis.</summary>
public static class RedisBackplaneBuilderExtensions
{
    /// <summary>The configuration section bound by default.</summary>
    public const string DefaultSection = "CbuffTcp:Redis";

    /// <summary>
    /// Makes the hosted server one node of a cluster through Redis (<see cref="RedisBackplane"/>): its options are bound
    /// from <paramref name="configSectionPath"/> (<c>Configuration</c>, <c>ChannelPrefix</c>, <c>HeartbeatInterval</c>,
    /// <c>PresenceExpiry</c>), then <paramref name="configure"/> runs; the server starts and stops the backplane.
    /// Health checks read <c>TcpServer.Cluster.IsConnected</c>.
    /// </summary>
    public static CbuffTcpServerBuilder<TMessage> AddRedisBackplane<TMessage>(this CbuffTcpServerBuilder<TMessage> builder, Action<RedisBackplaneOptions>? configure = null, string configSectionPath = DefaultSection)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<RedisBackplaneOptions>().BindConfiguration(configSectionPath);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        builder.Services.TryAddSingleton(static sp => new RedisBackplane(sp.GetRequiredService<IOptions<RedisBackplaneOptions>>().Value));
        builder.Services.AddOptions<CbuffTcpHostOptions>().Configure<RedisBackplane>(static (host, backplane) => host.Server.Backplane ??= backplane);
        return builder;
    }
}
