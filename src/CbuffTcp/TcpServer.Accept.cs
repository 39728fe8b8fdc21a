using System.Diagnostics;
using System.Net.Sockets;
using CbuffTcp.Connections;
using CbuffTcp.Telemetry;

namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    private long _rejectedConnections;

    /// <summary>Accepts one socket; tests replace it to make accepting fail on cue.</summary>
    internal Func<Socket, CancellationToken, ValueTask<Socket>> AcceptSocket { get; set; } = static (listener, cancellationToken) => listener.AcceptAsync(cancellationToken);

    /// <summary>Runs between a TLS handshake's success and the client's registration; tests hold a handshake there on cue.</summary>
    internal Func<Task>? AfterTlsHandshake { get; set; }

    /// <summary>True once a stop has begun closing clients (set before it takes its snapshot of them).</summary>
    internal bool IsStopping => Volatile.Read(ref _stopping) != 0;

    /// <summary>Makes a plaintext socket's transport; tests replace it to make admission fail on cue.</summary>
    internal Func<Socket, ConnectionSettings, ConnectionTransport> CreateTransport { get; set; } = static (socket, settings) => settings.TransportFor(socket);

    // 1 while a streak of rejections for that limit is under way: a flood is reported once, not once per socket.
    private int _rejectingForTotal;
    private int _rejectingForIp;
    private int _rejectingForProxy;
    private int _rejectingForRate;
    private int? _acceptHighWater;
    private int _acceptLowWater;
    private long? _acceptMemoryHighWater;
    private long _acceptMemoryLowWater;
    private TaskCompletionSource? _acceptResume;
    private int _failingHandshakes;
    private int _handshaking;
    private long _tlsHandshakeFailures;
    private long _tlsHandshakesStarted;

    /// <summary>Clients closed because their TLS handshake failed or timed out, since the server was created.</summary>
    public long TlsHandshakeFailures => Interlocked.Read(ref _tlsHandshakeFailures);

    /// <summary>TLS handshakes whose deadline has started; tests wait on it before moving a fake clock.</summary>
    internal long TlsHandshakesStarted => Interlocked.Read(ref _tlsHandshakesStarted);

    /// <summary>Accepts until stopped. Never dies on an accept error: it reports it once per streak and backs off.</summary>
    private async Task AcceptLoopAsync(Socket listener, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.Zero;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (_acceptHighWater is { } highWater && OpenConnections >= highWater)
                {
                    await ShedAtTheDoorAsync(forMemory: false, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                Socket socket;
                try
                {
                    socket = await AcceptSocket(listener, cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.Zero;
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    // The peer gave up before we accepted it: nothing to serve, nothing to report.
                    continue;
                }
                catch (Exception ex)
                {
                    // Out of descriptors, or worse: report the first of a streak, then back off without spinning.
                    if (backoff == TimeSpan.Zero)
                    {
                        ReportError(logger => Log.AcceptFailed(logger, ex.Message, ex), $"Accepting a connection failed: {ex.Message}", ex);
                    }

                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxAcceptBackoff.Ticks));
                    await Task.Delay(backoff, settings.TimeProvider, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    continue;
                }

                if (_acceptMemoryHighWater is { } memoryHighWater && _memory!.Used >= memoryHighWater)
                {
                    // Memory filled while this accept was pending: the client just accepted waits, unserved, with the
                    // ones in the backlog, until memory frees (or the server stops and it is reset).
                    await ShedAtTheDoorAsync(forMemory: true, cancellationToken).ConfigureAwait(false);
                    if (cancellationToken.IsCancellationRequested)
                    {
                        SocketClosing.Reset(socket);
                        break;
                    }
                }

                try
                {
                    Admit(socket, settings);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // The socket failed between accept and admission (the peer reset it, say): drop it, accept on.
                    SocketClosing.Reset(socket);
                }
                catch (Exception ex)
                {
                    // Anything else is a fault of ours or of the machine (epoll refusing the socket, say): never a
                    // silent end of accepting while Status says Running. Report it, drop this socket, accept on.
                    var remote = RemoteOf(socket);
                    ReportError(logger => Log.AdmitFailed(logger, remote, ex.Message, ex), $"Admitting a connection from {remote} failed: {ex.Message}", ex);
                    SocketClosing.Reset(socket);
                }
            }
        }
        finally
        {
            ConnectionTaskEnded();
        }
    }

    private void Admit(Socket socket, ConnectionSettings settings)
    {
        var remote = socket.RemoteEndPoint; // throws for a socket the peer has reset already: the loop drops it
        if (!WithinLimits(remote, out var address))
        {
            SocketClosing.Reset(socket);
            return;
        }

        ConnectionTransport? transport = null;
        try
        {
            // These can fail for a socket the peer has already reset: give its per-IP slot back, then let it go.
            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = settings.NoDelay; // TCP only: a Unix socket has no Nagle to turn off
            }

            transport = _options.UsesTls ? null : CreateTransport(socket, settings);
        }
        catch
        {
            _perIp.Release(address);
            throw;
        }

        Interlocked.Increment(ref _connectionTaskCount);
        if (transport is not null)
        {
            var connection = Register(transport, settings);
            ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.RunAsync(), connection, preferLocal: false);
            return;
        }

        Interlocked.Increment(ref _handshaking);
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.server.HandshakeThenRunAsync(state.socket, state.settings, state.address), (server: this, socket, settings, address), preferLocal: false);
    }

    private int LimitConnectionsToDescriptors(int maxConnections)
    {
        if (DescriptorBudget.ConnectionCeiling() is not { } budget || budget.Ceiling >= maxConnections)
        {
            return maxConnections;
        }

        var (ceiling, softLimit, open) = budget;

        ReportError(
            logger => Log.ConnectionLimitLowered(logger, maxConnections, softLimit, open, ceiling),
            $"MaxConnections is {maxConnections}, but the descriptor limit (ulimit -n {softLimit}, {open} open) leaves room for {ceiling}: " +
            $"serving at most {ceiling} connections. Raise ulimit -n to serve more.",
            exception: null);
        return ceiling;
    }

    private TcpConnection<TMessage> Register(ConnectionTransport transport, ConnectionSettings settings)
    {
        var connection = new TcpConnection<TMessage>(NextClientId(), transport, _protocol, _handler, _packer, settings, server: this);
        _clients.TryAdd(connection);
        return connection;
    }

    /// <summary>
    /// TLS first: a client that fails or stalls the handshake is closed without any handler call; failures are
    /// counted and reported once per streak, so a scan of plaintext clients cannot flood the error event.
    /// </summary>
    private async Task HandshakeThenRunAsync(Socket socket, ConnectionSettings settings, System.Net.IPAddress? address)
    {
        ConnectionTransport transport;
        var remote = socket.RemoteEndPoint;
        var started = settings.TimeProvider.GetTimestamp();
        using var activity = Tracing.Source.StartActivity("cbufftcp.tls_handshake");
        activity?.SetTag("network.peer.address", (remote as System.Net.IPEndPoint)?.Address.ToString());
        try
        {
            var handshake = TlsHandshake.AsServerAsync(socket, settings.UsesIoThreads, _options.Tls!, _options.TlsHandshakeTimeout, settings.TimeProvider, _acceptCancellation?.Token ?? default);
            Interlocked.Increment(ref _tlsHandshakesStarted); // its deadline is running now
            transport = await handshake.ConfigureAwait(false);
            _metrics.TlsHandshakeEnded(started, error: null, settings.TimeProvider);
        }
        catch (Exception ex)
        {
            _metrics.TlsHandshakeEnded(started, ex, settings.TimeProvider);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            Interlocked.Decrement(ref _handshaking);
            _perIp.Release(address); // the handshake has reset the connection
            if (ex is not OperationCanceledException)
            {
                Interlocked.Increment(ref _tlsHandshakeFailures);
                if (Interlocked.Exchange(ref _failingHandshakes, 1) == 0)
                {
                    ReportError(logger => Log.TlsHandshakeFailed(logger, remote, ex.Message, ex), $"TLS handshake with {remote} failed: {ex.Message} (further failures are counted in TlsHandshakeFailures until one succeeds)", ex);
                }
            }

            ConnectionTaskEnded();
            return;
        }

        Volatile.Write(ref _failingHandshakes, 0);
        if (AfterTlsHandshake is { } pause)
        {
            await pause().ConfigureAwait(false);
        }

        var connection = Register(transport, settings);
        Interlocked.Decrement(ref _handshaking);
        if (Volatile.Read(ref _stopping) != 0)
        {
            // The stop may have closed its snapshot of the clients before this one joined: close it here, or it would
            // hold the stop for the whole graceful timeout. (Registered first, checked second; the stop sets the flag
            // first and takes its snapshot second: one of the two sees the other.)
            connection.BeginClose(DisconnectReason.ServerStopping, "server stopping");
        }

        await connection.RunAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Frees the client's registry entry and per-IP slot, once, before its <c>OnDisconnectedAsync</c> runs: by then
    /// <see cref="ClientCount"/> excludes it and its address may connect again.
    /// </summary>
    void IConnectionOwner<TMessage>.Closing(TcpConnection<TMessage> connection)
    {
        if (_clients.Remove(connection))
        {
            _perIp.Release(PerIpConnectionCounter.KeyOf(connection.RemoteEndPoint));
            LeaveAllGroups(connection);
            if (Volatile.Read(ref _acceptResume) is { } resume && OpenConnections <= _acceptLowWater)
            {
                resume.TrySetResult(); // the accept loop sheds no more
            }
        }
    }

    /// <summary>Connections accepted and not yet closed, those still in their handshake included.</summary>
    private int OpenConnections => _clients.Count + Volatile.Read(ref _handshaking);

    /// <summary>
    /// At a high-water mark (of connections, or of the memory budget's use): stops accepting (clients wait in the listen
    /// backlog) until connections close, or memory frees, down to the low-water mark, with a log line and a measurement
    /// at each transition. Never polls: a closing client, or memory given back, wakes it.
    /// </summary>
    private async Task ShedAtTheDoorAsync(bool forMemory, CancellationToken cancellationToken)
    {
        if (forMemory)
        {
            Log.AcceptPausedForMemory(_logger, _memory!.Used, _acceptMemoryHighWater!.Value, _acceptMemoryLowWater);
        }
        else
        {
            Log.AcceptPaused(_logger, _clients.Count, _acceptHighWater!.Value, _acceptLowWater);
        }

        _metrics.AcceptPaused(true);
        try
        {
            var lowWater = forMemory ? WaitForMemoryLowWaterAsync(cancellationToken) : WaitForConnectionsLowWaterAsync(cancellationToken);
            await lowWater.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            Volatile.Write(ref _acceptResume, null);
            _metrics.AcceptPaused(false);
            if (!cancellationToken.IsCancellationRequested)
            {
                if (forMemory)
                {
                    Log.AcceptResumedForMemory(_logger, _memory!.Used, _acceptMemoryLowWater);
                }
                else
                {
                    Log.AcceptResumed(_logger, _clients.Count, _acceptLowWater);
                }
            }
        }
    }

    /// <summary>Until connections close down to the low-water mark: the last one to close that far wakes it.</summary>
    private Task WaitForConnectionsLowWaterAsync(CancellationToken cancellationToken)
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _acceptResume, resume);
        if (OpenConnections <= _acceptLowWater)
        {
            resume.TrySetResult(); // they left between the check and the wait
        }

        return resume.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Until the memory budget's use falls to its low-water mark: memory given back wakes it, as it wakes a paused read.</summary>
    private async Task WaitForMemoryLowWaterAsync(CancellationToken cancellationToken)
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = cancellationToken.Register(static state => ((TaskCompletionSource)state!).TrySetResult(), stopped);
        await _memory!.WaitUntilAsync(() => _memory.Used <= _acceptMemoryLowWater, stopped.Task).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes a slot under the connection limit and the per-IP limit for a new client, or counts and reports its
    /// refusal (the caller then resets it, before any handler call).
    /// </summary>
    private bool WithinLimits(System.Net.EndPoint? remote, out System.Net.IPAddress? address)
    {
        address = null;
        if (OpenConnections >= ConnectionLimit)
        {
            Refuse(remote, ref _rejectingForTotal, "max_connections", ConnectionLimit, "the server", $"Connection limit of {ConnectionLimit} reached: refusing new connections until clients leave.");
            return false;
        }

        address = PerIpConnectionCounter.KeyOf(remote);
        if (!WithinConnectionRate(remote, address, skipTrustedProxy: true))
        {
            return false;
        }

        if (!TryTakeIpSlot(remote, address, namedBy: string.Empty))
        {
            return false;
        }

        Volatile.Write(ref _rejectingForTotal, 0);
        Volatile.Write(ref _rejectingForIp, 0);
        Volatile.Write(ref _rejectingForRate, 0);
        return true;
    }

    bool IConnectionOwner<TMessage>.MoveToClientAddress(TcpConnection<TMessage> connection, System.Net.EndPoint client)
    {
        Volatile.Write(ref _rejectingForProxy, 0); // a header accepted ends a streak of refused ones
        var address = PerIpConnectionCounter.KeyOf(client);
        if (!WithinConnectionRate(client, address, skipTrustedProxy: false))
        {
            return false;
        }

        if (!TryTakeIpSlot(client, address, namedBy: " (named by a PROXY header)"))
        {
            return false;
        }

        _perIp.Release(PerIpConnectionCounter.KeyOf(connection.RemoteEndPoint));
        connection.UseClientEndPoint(client);
        return true;
    }

    void IConnectionOwner<TMessage>.ProxyHeaderRefused(TcpConnection<TMessage> connection, string reason)
    {
        Interlocked.Increment(ref _rejectedConnections);
        _metrics.ConnectionRejected("proxy_protocol");
        if (Interlocked.Exchange(ref _rejectingForProxy, 1) == 0)
        {
            ReportError(logger => Log.ProxyHeaderRefused(logger, connection.RemoteEndPoint, reason), $"Refused a connection from {connection.RemoteEndPoint}: {reason}", exception: null);
        }
        else if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            Log.ConnectionRefused(_logger, connection.RemoteEndPoint, reason);
        }
    }

    /// <summary>A slot under the per-IP limit for <paramref name="address"/>, or the refusal counted and reported.</summary>
    private bool TryTakeIpSlot(System.Net.EndPoint? remote, System.Net.IPAddress? address, string namedBy)
    {
        if (_perIp.TryAcquire(address))
        {
            return true;
        }

        Refuse(remote, ref _rejectingForIp, "max_connections_per_ip", _options.MaxConnectionsPerIp, $"{address}", $"Per-IP connection limit of {_options.MaxConnectionsPerIp} reached for {address}{namedBy}: refusing its new connections.");
        return false;
    }

    /// <summary>
    /// The connection rate of <paramref name="address"/>, refused and counted past it. A trusted PROXY protocol balancer
    /// is not limited at accept (<paramref name="skipTrustedProxy"/>): the client its header names is, once read.
    /// </summary>
    private bool WithinConnectionRate(System.Net.EndPoint? remote, System.Net.IPAddress? address, bool skipTrustedProxy)
    {
        if (_connectionRate is not { } limiter
            || (skipTrustedProxy && address is not null && _options.ProxyProtocol is { } proxy && proxy.Trusts(address))
            || limiter.TryAcquire(address))
        {
            return true;
        }

        Refuse(remote, ref _rejectingForRate, "connection_rate_per_ip", _options.ConnectionRatePerIp!.Value, $"{address}", $"{address} opened more than {_options.ConnectionRatePerIp} connections in a second: refusing its new connections until its rate falls.");
        return false;
    }

    /// <summary>Counts a client refused at a limit and reports the first of a streak.</summary>
    private void Refuse(System.Net.EndPoint? remote, ref int streak, string limit, int limitValue, string scope, string message)
    {
        Interlocked.Increment(ref _rejectedConnections);
        _metrics.ConnectionRejected(limit);
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            Log.ConnectionRefused(_logger, remote, limit);
        }

        if (Interlocked.Exchange(ref streak, 1) == 0)
        {
            ReportError(logger => Log.ConnectionsRejected(logger, limit, limitValue, scope), message, exception: null);
        }
    }

    void IConnectionOwner<TMessage>.Failed(TcpConnection<TMessage> connection, Exception exception)
    {
        // RunAsync reports user-code failures itself; reaching here is a bug in CbuffTcp. Keep the server alive.
        ReportError(logger => Log.ConnectionFailed(logger, connection.Id, exception.Message, exception), $"Connection {connection.Id} failed unexpectedly: {exception.Message}", exception);
    }

    void IConnectionOwner<TMessage>.Ended(TcpConnection<TMessage> connection) => ConnectionTaskEnded();

    private static System.Net.EndPoint? RemoteOf(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Connections admitted and not yet at their end (the owner told, after the last callback). For tests.</summary>
    internal int ConnectionsNotEnded => Math.Max(0, Volatile.Read(ref _connectionTaskCount) - 1); // the accept loop holds one count

    private void ConnectionTaskEnded()
    {
        if (Interlocked.Decrement(ref _connectionTaskCount) == 0)
        {
            _allConnectionsDone.TrySetResult();
        }
    }
}
