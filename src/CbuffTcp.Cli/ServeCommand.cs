using System.Buffers;
using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using CbuffTcp.Protocols;

namespace CbuffTcp.Cli;

/// <summary><c>cbuff serve</c>: runs a demo server until Ctrl+C or SIGTERM, then stops gracefully.</summary>
internal static class ServeCommand
{
    public static Command Create() => CommandLineOptions.Command<ServeOptions>(
        "serve",
        "Runs a demo server (chat, echo or broadcast) until Ctrl+C or SIGTERM, then stops gracefully.",
        ServeOptions.Cli.All,
        ServeOptions.From,
        RunAsync);

    private static async Task<int> RunAsync(ServeOptions options)
    {
        IProtocol<ReadOnlySequence<byte>> protocol = options.Protocol switch
        {
            WireProtocol.Line => new LineProtocol(options.MaxFrame),
            WireProtocol.Raw => new RawProtocol(options.MaxFrame),
            _ => new LengthPrefixedProtocol(headerSize: 4, bigEndian: true, maxFrameSize: options.MaxFrame),
        };
        var serverOptions = new TcpServerOptions
        {
            AsyncReceive = options.AsyncReceive,
            SendQueueMaxBytes = options.SendQueueLimit,
            MaxConnections = options.MaxConnections,
            MaxConnectionsPerIp = options.MaxConnectionsPerIp,
            IdleTimeout = options.IdleTimeout,
            FrameTimeout = options.FrameTimeout,
            IoMode = options.Io,
            ProxyProtocol = options.ProxyProtocol,
            ConnectionRatePerIp = options.ConnectionRatePerIp,
            MemoryBudget = options.MemoryBudget,
            AcceptMemoryHighWater = options.ShedAtMemory,
            MessageRatePerConnection = options.MessageRatePerConnection,
            ByteRatePerConnection = options.ByteRatePerConnection,
            Backplane = options.Redis is { } redis ? RedisBackplane(redis, options.RedisPrefix) : null,
        };

        if (options.TlsCertificate is { } certificatePath && UseTls(serverOptions, certificatePath, options.TlsPassword) is { } failed)
        {
            return failed;
        }

        // Redirected (a file, a pipe): a writer of its own that the log flushes once per burst. Console.Out flushes
        // every line, a write call each, and in a connect storm the log fell behind and held thousands of lines.
        await using var log = new ServeLog(Console.IsOutputRedirected ? new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 64 * 1024) : Console.Out);
        var handler = new ServeHandler(options.Mode, log);
        var server = new TcpServer<ReadOnlySequence<byte>>(protocol, handler, serverOptions);

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

        try
        {
            await server.StartAsync(options.ListenEndPoint).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return CliError.Fail($"cannot listen on {options.ListenName}: {ex.Message}");
        }

        var endPoint = server.LocalEndPoint!;
        log.Line($"listening on {FormatEndPoint(endPoint)}");
        log.Info($"protocol {options.Protocol.ToString().ToLowerInvariant()}, mode {options.Mode.ToString().ToLowerInvariant()}, max frame {options.MaxFrame} bytes{(options.TlsCertificate is null ? "" : ", TLS")}{(options.AsyncReceive ? ", async receive" : "")}{(options.Redis is null ? "" : $", cluster through Redis {options.Redis} (prefix {options.RedisPrefix})")}, I/O {server.IoModeInUse.ToString().ToLowerInvariant()}");

        using var status = Console.IsOutputRedirected ? null : InteractiveStatusLine();
        if (status is not null)
        {
            log.ShowStatusLine(status);
        }

        var clusterReport = server.Cluster is { } cluster ? ReportClusterAsync(cluster, log, stop.Token) : Task.CompletedTask;
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await clusterReport.ConfigureAwait(false);
        }
        finally
        {
            log.Info($"stopping ({server.ClientCount} clients)");
            await server.StopAsync().ConfigureAwait(false);
            log.Info("stopped");
            await log.CompleteAsync().ConfigureAwait(false); // every line out before the status line goes
        }

        return 0;

        void Stop(PosixSignalContext context)
        {
            // Handled here: the process exits through the graceful stop above, not the runtime's default.
            context.Cancel = true;
            stop.Cancel();
        }
    }

    // The Redis backplane, TLS and the status line each have a method of their own: compiling RunAsync would otherwise
    // load their assemblies (cryptography, the terminal library, the Redis client) into every server, 1.9 MiB of RSS.

    private static Redis.RedisBackplane RedisBackplane(string configuration, string prefix) =>
        new(new Redis.RedisBackplaneOptions { Configuration = configuration, ChannelPrefix = prefix });

    /// <summary>Loads the certificate and turns TLS on; the exit code of the failure if it cannot be loaded.</summary>
    private static int? UseTls(TcpServerOptions serverOptions, string certificatePath, string? password)
    {
        try
        {
            serverOptions.UseTls(CertificateFile.Load(certificatePath, password));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return CliError.Fail($"--tls-cert: cannot load {certificatePath}: {ex.Message}");
        }
    }

    private static ServeStatusLine? InteractiveStatusLine() =>
        Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive ? new ServeStatusLine() : null;

    /// <summary>Says when this node joins (or rejoins) the cluster; losing it is reported through the handler's OnError.</summary>
    private static async Task ReportClusterAsync(TcpCluster cluster, ServeLog log, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        var connected = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (cluster.IsConnected && !connected)
                {
                    log.Info($"in the cluster as node {cluster.NodeId}: {cluster.Nodes.Count} nodes, {cluster.ClientCount} clients");
                }

                connected = cluster.IsConnected;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The server is stopping.
        }
    }

    private static string FormatEndPoint(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip when ip.Address.IsIPv4MappedToIPv6 => $"{ip.Address.MapToIPv4()}:{ip.Port}",
        System.Net.Sockets.UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? "",
    };
}
