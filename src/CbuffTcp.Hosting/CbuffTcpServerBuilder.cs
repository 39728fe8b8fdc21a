using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CbuffTcp.Hosting;

/// <summary>
/// Configures the hosted server that <see cref="CbuffTcpServiceCollectionExtensions.AddCbuffTcpServer{TMessage}"/>
/// added: its protocol, its handler and its options. Packages such as a Redis backplane extend it.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
public sealed class CbuffTcpServerBuilder<TMessage>
{
    internal CbuffTcpServerBuilder(IServiceCollection services) => Services = services;

    /// <summary>The application's services, for extensions that register their own.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Uses <typeparamref name="TProtocol"/>, built by dependency injection, as the server's protocol.</summary>
    public CbuffTcpServerBuilder<TMessage> UseProtocol<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TProtocol>()
        where TProtocol : class, IProtocol<TMessage>
    {
        Services.Replace(ServiceDescriptor.Singleton<IProtocol<TMessage>, TProtocol>());
        return this;
    }

    /// <summary>Uses <paramref name="protocol"/> as the server's protocol.</summary>
    public CbuffTcpServerBuilder<TMessage> UseProtocol(IProtocol<TMessage> protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        Services.Replace(ServiceDescriptor.Singleton(protocol));
        return this;
    }

    /// <summary>
    /// Uses <typeparamref name="THandler"/>, built by dependency injection, as the server's handler. It replies and
    /// broadcasts through the connection each callback receives, so it needs no reference to the server.
    /// </summary>
    public CbuffTcpServerBuilder<TMessage> UseHandler<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>()
        where THandler : class, ITcpHandler<TMessage>
    {
        Services.TryAddSingleton<THandler>();
        Services.Replace(ServiceDescriptor.Singleton<ITcpHandler<TMessage>>(static sp => sp.GetRequiredService<THandler>()));
        return this;
    }

    /// <summary>Changes the options after configuration is bound (values set here win over appsettings.json).</summary>
    public CbuffTcpServerBuilder<TMessage> Configure(Action<CbuffTcpHostOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    /// <summary>
    /// Registers the server's health check (Microsoft.Extensions.Diagnostics.HealthChecks): healthy while running;
    /// degraded from <paramref name="degradedAtConnectionRatio"/> of its connection limit, or while its backplane is
    /// unavailable; unhealthy (the registration's failure status) when not running. Its data: status, clients,
    /// connection_limit, and in a cluster cluster_connected and node_id. See docs/hosting.md.
    /// </summary>
    /// <param name="name">The check's name in reports.</param>
    /// <param name="degradedAtConnectionRatio">The share of <c>ConnectionLimit</c> in use from which the server reports degraded (0 to 1].</param>
    /// <param name="tags">Tags to filter checks by (a readiness probe's, say).</param>
    public CbuffTcpServerBuilder<TMessage> AddHealthCheck(string name = "cbufftcp", double degradedAtConnectionRatio = 0.9, IEnumerable<string>? tags = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!(degradedAtConnectionRatio > 0 && degradedAtConnectionRatio <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(degradedAtConnectionRatio), degradedAtConnectionRatio, "A share of the connection limit, above 0 and at most 1.");
        }

        Services.AddHealthChecks().Add(new HealthCheckRegistration(
            name,
            sp => new CbuffTcpHealthCheck<TMessage>(sp.GetRequiredService<TcpServer<TMessage>>(), degradedAtConnectionRatio),
            failureStatus: HealthStatus.Unhealthy,
            tags));
        return this;
    }
}
