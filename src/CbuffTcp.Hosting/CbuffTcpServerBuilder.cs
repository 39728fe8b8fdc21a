using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

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
    public CbuffTcpServerBuilder<TMessage> UseProtocol<TProtocol>()
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
    public CbuffTcpServerBuilder<TMessage> UseHandler<THandler>()
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
}
