using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using CbuffTcp.Connections;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.ScaleOut;
using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp;

/// <summary>
/// A TCP server for a protocol of your own (the seed's <c>CtcpsvrSt</c>): you give it a protocol and a handler; it
/// accepts clients, runs one read loop and one write loop per client, keeps a bounded send queue per client, and
/// tracks them by id for sends, broadcasts and closes.
/// </summary>
/// <typeparam name="TMessage">The protocol's message type.</typeparam>
/// <remarks>All members are thread-safe. Send and close methods may be called from handler callbacks.</remarks>
public sealed partial class TcpServer<TMessage> : IAsyncDisposable, IConnectionOwner<TMessage>
{
    private readonly IProtocol<TMessage> _protocol;
    private readonly ITcpHandler<TMessage> _handler;
    private readonly TcpServerOptions _options;
    private readonly MessagePacker<TMessage> _packer;
    private readonly ClientRegistry<TMessage> _clients = new();
    private readonly GroupRegistry<TMessage> _groups = new();
    private readonly ClusterLink<TMessage>? _cluster;
    private readonly Lock _lifecycleLock = new();
    private readonly ILogger _logger;
    private readonly ServerMetrics _metrics;

    private ConnectionSettings? _settings;
    private PerIpConnectionCounter _perIp = new(int.MaxValue);
    private ConnectionRateLimiter? _connectionRate;
    private MemoryBudget? _memory;
    private ConnectionHeartbeat<TMessage>? _heartbeat;
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private CancellationTokenSource? _acceptCancellation;
    private volatile ServerStatus _status;
    private long _lastClientId;
    private int _stopping;
    private int _connectionTaskCount;
    private TaskCompletionSource _allConnectionsDone = NewCompletionSource(completed: true);

    /// <summary>Creates a server; it listens once started.</summary>
    /// <param name="protocol">Turns bytes into messages and back; shared by every connection.</param>
    /// <param name="handler">Receives the server's and clients' events.</param>
    /// <param name="options">Limits and behaviour; defaults when null. Validated at start.</param>
    public TcpServer(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, TcpServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        _protocol = protocol;
        _handler = handler;
        _options = options ?? new TcpServerOptions();
        _logger = _options.CreateLogger();
        _packer = new MessagePacker<TMessage>(protocol, handler, _logger);
        _metrics = new ServerMetrics(_options.MeterFactory, LiveTraffic, () => (long)_clients.Count);
        _metrics.ObserveMemory(() => Volatile.Read(ref _memory));
        _cluster = CreateCluster(out var cluster);
        Cluster = cluster;
        if (_cluster is { } link)
        {
            _metrics.ObserveBackplane(() => new BackplaneTotals(link.Backplane.IsConnected, link.Gaps, link.Published, link.Received, link.Refused));
        }
    }

    /// <summary>Where the server is in its lifecycle.</summary>
    public ServerStatus Status => _status;

    /// <summary>
    /// Where the server listens: an <see cref="IPEndPoint"/> (with the real port when started on port 0) or a
    /// <see cref="UnixDomainSocketEndPoint"/>; null when not listening.
    /// </summary>
    public EndPoint? LocalEndPoint { get; private set; }

    /// <summary>
    /// The I/O mode plain connections run on since the last start: <see cref="IoMode.IoThreads"/> or
    /// <see cref="IoMode.ThreadPool"/>, never <see cref="IoMode.Auto"/> (resolved at start; the thread pool where I/O
    /// threads are not available). TLS connections run in the same mode (their <c>SslStream</c> over the I/O thread's socket).
    /// </summary>
    public IoMode IoModeInUse { get; private set; }

    /// <summary>
    /// The server's memory budget since the last start: its limit, what is reserved now, and how many reservations it
    /// refused (see <see cref="TcpServerOptions.MemoryBudget"/>). Zeros before the first start.
    /// </summary>
    public (long Limit, long Used, long Refusals) Memory => _memory is { } memory ? (memory.Limit, memory.Used, memory.Refusals) : default;

    /// <summary>How many clients are connected now.</summary>
    public int ClientCount => _clients.Count;

    /// <summary>The connected clients, as of the latest connect or disconnect (a snapshot: it does not change afterwards).</summary>
    public IReadOnlyList<TcpConnection<TMessage>> Clients => _clients.GetSnapshot();

    /// <summary>
    /// Connections refused because <see cref="TcpServerOptions.MaxConnections"/> or
    /// <see cref="TcpServerOptions.MaxConnectionsPerIp"/> was reached, since the server was created.
    /// </summary>
    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>
    /// The connection limit in effect since the last start: <see cref="TcpServerOptions.MaxConnections"/>, or less
    /// where the process's descriptor limit (<c>ulimit -n</c>) would not leave the runtime a reserve of descriptors
    /// (a .NET process out of descriptors cannot start a thread and aborts). The cap is reported through
    /// <see cref="ITcpHandler{TMessage}.OnError"/> when the server starts.
    /// </summary>
    public int ConnectionLimit { get; private set; }

    /// <summary>Looks up a connected client by id.</summary>
    public bool TryGetClient(long clientId, [NotNullWhen(true)] out TcpConnection<TMessage>? client) => _clients.TryGet(clientId, out client);

    /// <summary>Starts listening on every interface (IPv6 dual mode, so IPv4 clients connect too) at <paramref name="port"/>.</summary>
    /// <param name="port">The TCP port; 0 picks a free one (read it from <see cref="LocalEndPoint"/>).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">The server is not <see cref="ServerStatus.Closed"/>.</exception>
    public Task StartAsync(int port, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        var endPoint = Socket.OSSupportsIPv6 ? new IPEndPoint(IPAddress.IPv6Any, port) : new IPEndPoint(IPAddress.Any, port);
        return StartAsync(endPoint, cancellationToken);
    }

    /// <summary>
    /// Starts listening on <paramref name="endPoint"/>: an <see cref="IPEndPoint"/> (<see cref="IPAddress.IPv6Any"/>
    /// listens dual mode; port 0 picks a free one) or a <see cref="UnixDomainSocketEndPoint"/>. On a Unix socket,
    /// limits, timeouts, metrics and logs apply as on TCP, except <see cref="TcpServerOptions.MaxConnectionsPerIp"/>
    /// (its clients have no IP address); a socket file left by a server that is gone is replaced, and the file is
    /// removed when the server stops.
    /// </summary>
    /// <param name="endPoint">Where to listen.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">The server is not <see cref="ServerStatus.Closed"/>.</exception>
    /// <exception cref="SocketException">
    /// The address could not be bound (in use, not local, no permission; for a Unix socket, another server listens on
    /// the path, or the path is a file that is not a socket).
    /// </exception>
    /// <exception cref="ArgumentException">The end point is neither an IP nor a Unix domain socket end point.</exception>
    public Task StartAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is not (IPEndPoint or UnixDomainSocketEndPoint))
        {
            throw new ArgumentException($"A server listens on an IPEndPoint or a UnixDomainSocketEndPoint, not a {endPoint.GetType().Name}.", nameof(endPoint));
        }

        cancellationToken.ThrowIfCancellationRequested();
        return Start(endPoint, listen: true);
    }

    /// <summary>Binds (unless <paramref name="listen"/> is false: then clients come through <see cref="AdmitTransport"/>) and starts serving.</summary>
    private Task Start(EndPoint endPoint, bool listen)
    {
        lock (_lifecycleLock)
        {
            if (_status != ServerStatus.Closed)
            {
                throw new InvalidOperationException($"The server can start only when Closed; it is {_status}.");
            }

            _memory = new MemoryBudget(_options.MemoryBudget ?? MemoryBudget.DefaultLimit())
            {
                StreakStarted = (budget, bytes) => ReportError(
                    logger => Log.MemoryBudgetReached(logger, budget.Limit, budget.Used, bytes),
                    $"The memory budget of {budget.Limit} bytes is reached ({budget.Used} in use): sends that need more memory are refused (QueueFull) until some frees.",
                    exception: null),
            };
            _packer.Budget = _memory;
            _settings = ConnectionSettings.From(_options, _protocol.MaxFrameSize) with { Telemetry = new ConnectionTelemetry(_logger, _metrics), ProxyProtocol = _options.ProxyProtocol, Budget = _memory, MessageRate = _options.MessageRatePerConnection, ByteRate = _options.ByteRatePerConnection };
            _status = ServerStatus.Starting;
        }

        using var activity = Tracing.Source.StartActivity("cbufftcp.server.start");
        activity?.SetTag("server.address", endPoint is IPEndPoint ip ? ip.Address.ToString() : endPoint.ToString());
        try
        {
            _listener = listen ? ListenSocket.Bind(endPoint, _options.ListenBacklog) : null;
            LocalEndPoint = _listener?.LocalEndPoint ?? endPoint;
        }
        catch
        {
            _listener?.Dispose();
            _listener = null;
            _status = ServerStatus.Closed;
            throw;
        }

        if (_options.UsesTls)
        {
            PrepareCertificateContext();
        }

        _perIp = new PerIpConnectionCounter(_options.MaxConnectionsPerIp);
        _connectionRate?.Dispose();
        _connectionRate = _options.ConnectionRatePerIp is { } rate ? new ConnectionRateLimiter(rate) : null;
        _acceptHighWater = _options.AcceptHighWater;
        _acceptLowWater = _options.AcceptLowWater ?? (int)((_options.AcceptHighWater ?? 0) * 0.9);
        _acceptMemoryHighWater = _options.AcceptMemoryHighWater is { } memoryHigh ? (long)(memoryHigh * _memory!.Limit) : null;
        _acceptMemoryLowWater = (long)((_options.AcceptMemoryLowWater ?? ((_options.AcceptMemoryHighWater ?? 0) * 0.8)) * _memory!.Limit);
        ConnectionLimit = LimitConnectionsToDescriptors(_options.MaxConnections);
        _heartbeat = ConnectionHeartbeat<TMessage>.StartIfNeeded(_settings, _clients.GetSnapshot);
        _acceptCancellation = new CancellationTokenSource();
        _allConnectionsDone = NewCompletionSource(completed: false);
        _connectionTaskCount = 1; // the accept loop holds one count until it ends
        Volatile.Write(ref _stopping, 0);
        IoModeInUse = StartIoMode();
        _status = ServerStatus.Running;
        _acceptLoop = _listener is null ? AwaitStopAsync(_acceptCancellation.Token) : AcceptLoopAsync(_listener, _settings, _acceptCancellation.Token);
        activity?.SetTag("server.port", (LocalEndPoint as IPEndPoint)?.Port);
        Log.ServerStarted(_logger, LocalEndPoint, ConnectionLimit, IoModeInUse);
        return _cluster is { } cluster ? StartBackplaneAsync(cluster) : Task.CompletedTask;
    }

    /// <summary>
    /// Starts the backplane (it connects in the background where its store is away); a backplane that cannot start at
    /// all (a malformed configuration, say) fails the start, and the server stops again.
    /// </summary>
    private async Task StartBackplaneAsync(ClusterLink<TMessage> cluster)
    {
        try
        {
            await cluster.Backplane.StartAsync(cluster).ConfigureAwait(false);
        }
        catch
        {
            await StopAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops gracefully (the seed's <c>StopServer</c>): stops accepting, lets every client flush what was queued for
    /// it and closes it with <see cref="DisconnectReason.ServerStopping"/>; clients still open after
    /// <see cref="TcpServerOptions.GracefulStopTimeout"/> (or when <paramref name="cancellationToken"/> fires) are
    /// aborted. Returns once every client's <c>OnDisconnectedAsync</c> has run; the server can then be started again.
    /// From inside a handler, call it without awaiting (<c>_ = server.StopAsync()</c>): awaited there, it would wait
    /// for the very callback that awaits it, and returns only after twice the graceful-stop timeout, reporting it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server is not <see cref="ServerStatus.Running"/>.</exception>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_lifecycleLock)
        {
            if (_status != ServerStatus.Running)
            {
                throw new InvalidOperationException($"The server can stop only when Running; it is {_status}.");
            }

            _status = ServerStatus.Stopping;
        }

        using var activity = Tracing.Source.StartActivity("cbufftcp.server.stop");
        var endPoint = LocalEndPoint;
        activity?.SetTag("server.port", (endPoint as IPEndPoint)?.Port);
        Log.ServerStopping(_logger, endPoint, _clients.Count);
        await _acceptCancellation!.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);

        Interlocked.Exchange(ref _stopping, 1); // before the snapshot: a TLS handshake that ends after it sees this
        foreach (var connection in _clients.GetSnapshot())
        {
            connection.BeginClose(DisconnectReason.ServerStopping, "server stopping");
        }

        var done = _allConnectionsDone.Task;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.GracefulStopTimeout);
            await done.WaitAsync(timeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (!done.IsCompleted)
        {
            foreach (var connection in _clients.GetSnapshot())
            {
                connection.Abort(DisconnectReason.ServerStopping, "server stopping: graceful stop timed out");
            }

            // An abort ends the loops at once; only a handler that has not returned can hold a connection now (one
            // that awaits this very stop, say): give handlers one more timeout, then report them and return.
            await done.WaitAsync(_options.GracefulStopTimeout, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!done.IsCompleted)
            {
                var stuck = _clients.Count;
                ReportError(logger => Log.StopIncomplete(logger, stuck), $"Stopped with {stuck} connections still inside handler callbacks that did not return.", exception: null);
            }
        }

        if (_cluster is { } cluster)
        {
            await cluster.Backplane.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _heartbeat?.Dispose();
        _heartbeat = null;
        IoLoop.UnexpectedError -= ReportIoThreadError;
        _acceptCancellation.Dispose();
        _acceptCancellation = null;
        _listener = null;
        if (ListenSocket.SocketFileOf(endPoint) is { } socketFile)
        {
            TryDelete(socketFile);
        }

        LocalEndPoint = null;
        _status = ServerStatus.Closed;
        Log.ServerStopped(_logger, endPoint);
    }

    /// <summary>Stops the server if it is running, and releases its meter (when it created its own).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Status == ServerStatus.Running)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _connectionRate?.Dispose();
        _metrics.Dispose();
    }

    /// <summary>
    /// The I/O mode connections get: the one configured, with <see cref="IoMode.Auto"/> resolved. Where I/O threads
    /// cannot run, the thread pool serves instead: silently for Auto on a platform without them, reported once when
    /// they were asked for or failed to start. I/O threads report exceptions that escape them (a CbuffTcp bug) through
    /// this server while it runs.
    /// </summary>
    private IoMode StartIoMode()
    {
        if (_options.IoMode == IoMode.ThreadPool)
        {
            return IoMode.ThreadPool;
        }

        if (!IoLoops.IsAvailable)
        {
            if (_options.IoMode == IoMode.IoThreads || IoLoops.StartFailure is not null)
            {
                var reason = IoLoops.Unavailability;
                ReportError(logger => Log.IoThreadsUnavailable(logger, reason, IoLoops.StartFailure), $"IoMode.IoThreads is not available here ({reason}): connections use the thread pool.", IoLoops.StartFailure);
            }

            return IoMode.ThreadPool;
        }

        IoLoop.UnexpectedError += ReportIoThreadError;
        return IoMode.IoThreads;
    }

    /// <summary>
    /// With only <c>ServerCertificate</c> set, SslStream would build the certificate's chain again at every handshake:
    /// build it once here, as Kestrel does (offline: no download of missing intermediates during a start).
    /// </summary>
    private void PrepareCertificateContext()
    {
        if (_options.Tls is { ServerCertificateContext: null, ServerCertificateSelectionCallback: null, ServerCertificate: X509Certificate2 certificate } tls)
        {
            tls.ServerCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
        }
    }

    private void ReportIoThreadError(Exception exception) =>
        ReportError(logger => Log.IoThreadError(logger, exception.Message, exception), $"An I/O thread caught an exception that escaped a socket's wake-up: {exception.Message}", exception);

    private void TryDelete(string socketFile)
    {
        try
        {
            File.Delete(socketFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ReportError(logger => Log.SocketFileNotRemoved(logger, socketFile, ex.Message, ex), $"Could not remove the socket file {socketFile}: {ex.Message}", ex);
        }
    }

    /// <summary>A server-level error: to the log as its own structured event, then to the handler's <c>OnError</c> as a sentence.</summary>
    internal void ReportError(Action<ILogger> log, string message, Exception? exception)
    {
        log(_logger);
        try
        {
            _handler.OnError(message, exception);
        }
        catch (Exception ex)
        {
            // A failing error handler must not take the accept loop or a stop down with it: the log has it.
            Log.ErrorHandlerFailed(_logger, message, ex);
        }
    }

    private static TaskCompletionSource NewCompletionSource(bool completed)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            source.SetResult();
        }

        return source;
    }
}
