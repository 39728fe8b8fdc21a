using System.Diagnostics.CodeAnalysis;
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
    // Configuration binding reflects over the options' properties: these keep them in a trimmed or Native AOT build,
    // and the types bound are classes with scalar properties (numbers, booleans, strings, TimeSpan, enums), which need
    // no code generated at run time. (The binder's source generator would walk Tls' certificate types and fail.)
    // samples/HostedChat is published with PublishAot in CI and reads its settings from appsettings.json.
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(CbuffTcpHostOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties | DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(TcpServerOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(TcpConnectionOptions))]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The bound types' properties are kept by the DynamicDependency attributes above.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Only scalar properties are bound: no generic instantiation is made at run time.")]
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
