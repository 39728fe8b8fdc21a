using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CbuffTcp.Hosting;

/// <summary>Adds a CbuffTcp server to a generic host.</summary>
public static class CbuffTcpServiceCollectionExtensions
{
    /// <summary>The configuration section bound by default.</summary>
    public const string DefaultSection = "CbuffTcp";

    /// <summary>
    /// Adds a <see cref="TcpServer{TMessage}"/> that starts with the host and stops gracefully within the host's
    /// shutdown timeout. Its options are bound from <paramref name="configSectionPath"/> and validated when the host
    /// starts; it logs through the host's <see cref="ILoggerFactory"/> and measures through its
    /// <see cref="IMeterFactory"/>. Handlers reply through the connection their callbacks receive (and broadcast through
    /// its <c>Server</c>); inject <see cref="TcpServer{TMessage}"/> where code outside a handler sends, broadcasts or
    /// closes clients.
    /// </summary>
    /// <returns>A builder: call <c>UseProtocol</c> and <c>UseHandler</c> on it.</returns>
    public static CbuffTcpServerBuilder<TMessage> AddCbuffTcpServer<TMessage>(this IServiceCollection services, string configSectionPath = DefaultSection)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<CbuffTcpHostOptions>().BindConfiguration(configSectionPath).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CbuffTcpHostOptions>, CbuffTcpHostOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CbuffTcpHostOptions>, TcpServerOptionsRulesValidator>());
        services.TryAddSingleton(static sp => CreateServer<TMessage>(sp));
        services.AddHostedService<CbuffTcpHostedService<TMessage>>();
        return new CbuffTcpServerBuilder<TMessage>(services);
    }

    private static TcpServer<TMessage> CreateServer<TMessage>(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<CbuffTcpHostOptions>>().Value.Server;
        options.LoggerFactory ??= services.GetService<ILoggerFactory>();
        options.MeterFactory ??= services.GetService<IMeterFactory>();
        var protocol = services.GetService<IProtocol<TMessage>>()
            ?? throw new InvalidOperationException($"No IProtocol<{typeof(TMessage).Name}> is registered: call UseProtocol on the builder AddCbuffTcpServer returned.");
        var handler = services.GetService<ITcpHandler<TMessage>>()
            ?? throw new InvalidOperationException($"No ITcpHandler<{typeof(TMessage).Name}> is registered: call UseHandler on the builder AddCbuffTcpServer returned.");
        return new TcpServer<TMessage>(protocol, handler, options);
    }
}
