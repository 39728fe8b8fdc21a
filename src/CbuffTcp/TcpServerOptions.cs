using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace CbuffTcp;

/// <summary>Settings of a <see cref="TcpServer{TMessage}"/>. Validated once, when the server starts.</summary>
public sealed class TcpServerOptions : TcpConnectionOptions
{
    /// <summary>
    /// The most clients connected at once. A connection past it is closed as soon as it is accepted, with no handler
    /// call. Defaults to 10,000. Where the process's descriptor limit (<c>ulimit -n</c>) is too low for it, the
    /// server serves fewer, keeping a reserve of descriptors for the runtime, and says so at start (see
    /// <see cref="TcpServer{TMessage}.ConnectionLimit"/>).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// The most clients connected at once from one IP address. A connection past it is closed as soon as it is
    /// accepted, with no handler call; other addresses are unaffected. Defaults to 10,000.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConnectionsPerIp { get; set; } = 10_000;

    /// <summary>
    /// The most new connections one IP address may open per second (a token bucket of this many, refilled every
    /// second); past it, its connections are reset at once (<c>cbufftcp.rejected_connections</c> with
    /// <c>cbufftcp.limit=connection_rate_per_ip</c>), while other addresses connect as usual. Behind a trusted PROXY
    /// protocol balancer, the client the header names is counted, not the balancer. Null turns it off. Defaults to null.
    /// </summary>
    public int? ConnectionRatePerIp { get; set; }

    /// <summary>
    /// The most messages per second one connection delivers to the handler (a token bucket of a second's worth, refilled
    /// continuously, from System.Threading.RateLimiting). Past it the connection decodes and reads no further until the bucket
    /// refills: the peer is slowed by TCP's flow control, nothing is dropped or closed. Each pause is counted
    /// (<c>cbufftcp.receive.throttled</c>, <c>cbufftcp.limit=message_rate_per_connection</c>). Null (the default) turns it off.
    /// </summary>
    public int? MessageRatePerConnection { get; set; }

    /// <summary>
    /// The most bytes per second the server reads from one connection (a token bucket of a second's worth, refilled
    /// continuously); past it reading pauses until the bucket refills, as <see cref="MessageRatePerConnection"/>
    /// (<c>cbufftcp.limit=byte_rate_per_connection</c>). Null (the default) turns it off.
    /// </summary>
    public int? ByteRatePerConnection { get; set; }

    /// <summary>
    /// The most bytes the server holds for all its clients together: receive buffers and send queues (each array past a
    /// connection's first 4 KiB), the AsyncReceive queues (all they hold) and the pack buffers of large messages (past
    /// 64 KiB) are reserved from this before the memory is taken, and given back when it is returned. A receive buffer
    /// that cannot grow stops reading (the frame timeout still runs), as does a connection with messages in its
    /// AsyncReceive queue while the budget is spent; a send that needs memory the budget cannot give returns
    /// <see cref="SendResult.QueueFull"/> (and, for a queue, <see cref="SlowConsumerPolicy"/> applies), never blocks. The
    /// first refusal of a streak is logged (event 48) and every one counted (<c>cbufftcp.memory.refusals</c>). Null (the
    /// default) takes half of what the GC may use: its heap hard limit, else the container's memory limit, else the
    /// machine's memory (at least 64 MiB). See docs/limits.md.
    /// </summary>
    public long? MemoryBudget { get; set; }

    /// <summary>
    /// Shedding at the door: at this many connections the server stops accepting (new clients wait in the listen
    /// backlog, and past it the kernel turns them away) until the count falls to <see cref="AcceptLowWater"/>, instead
    /// of accepting and resetting what it cannot serve. Each transition is logged (events 46, 47) and measured
    /// (<c>cbufftcp.accept.paused</c>). At most <see cref="MaxConnections"/>. Null turns it off: past
    /// <see cref="MaxConnections"/> clients are accepted and reset (the default).
    /// </summary>
    public int? AcceptHighWater { get; set; }

    /// <summary>With <see cref="AcceptHighWater"/>: the count at which accepting resumes. Defaults to 90 % of it.</summary>
    public int? AcceptLowWater { get; set; }

    /// <summary>
    /// Shedding at the door on memory: once the server's <see cref="MemoryBudget"/> is in use to this fraction of it
    /// (above 0, at most 1), the server stops accepting (new clients wait in the listen backlog) until use falls to
    /// <see cref="AcceptMemoryLowWater"/>. Each transition is logged (events 49, 53) and measured
    /// (<c>cbufftcp.accept.paused</c>). Null turns it off (the default): a client that sends nothing costs the budget
    /// nothing, so a server whose budget is spent by a few still serves new well-behaved clients at once.
    /// </summary>
    public double? AcceptMemoryHighWater { get; set; }

    /// <summary>With <see cref="AcceptMemoryHighWater"/>: the fraction of the budget in use at which accepting resumes. Defaults to 80 % of the high-water mark.</summary>
    public double? AcceptMemoryLowWater { get; set; }

    /// <summary>
    /// When set, every connection speaks TLS: the handshake runs before <c>OnConnectedAsync</c>, and a client that
    /// fails it (plaintext, garbage, a bad certificate) is closed without any handler call. Protocol versions and
    /// ciphers are the OS's defaults unless set here; set <see cref="SslServerAuthenticationOptions.ClientCertificateRequired"/>
    /// and a validation callback for client certificates. Defaults to null (plain TCP).
    /// </summary>
    public SslServerAuthenticationOptions? Tls { get => _tls as SslServerAuthenticationOptions; set => _tls = value; }

    // Held as an object, so code that only asks whether TLS is on (UsesTls: the accept path, validation) does not load
    // System.Net.Security and the cryptography assemblies (1.6 MiB of RSS) in a server that has no TLS.
    private object? _tls;

    internal bool UsesTls => _tls is not null;

    /// <summary>
    /// When set, connections may (or, with <see cref="ProxyProtocolOptions.Required"/>, must) start with a PROXY protocol
    /// header from a trusted load balancer, which names the real client (see <see cref="ProxyProtocolOptions"/>).
    /// Not with <see cref="Tls"/> yet. Defaults to null (off).
    /// </summary>
    public ProxyProtocolOptions? ProxyProtocol { get; set; }

    /// <summary>How long a client may take to complete the TLS handshake. Defaults to 10 seconds.</summary>
    public TimeSpan TlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Turns TLS on with <paramref name="certificate"/> (which must hold its private key) and the OS's defaults.</summary>
    public TcpServerOptions UseTls(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Tls = new SslServerAuthenticationOptions { ServerCertificate = certificate };
        return this;
    }

    /// <summary>
    /// Creates the server's <see cref="Meter"/> (named <see cref="CbuffTcpTelemetry.MeterName"/>); the generic host
    /// supplies one. When null the server creates its own and disposes it with the server. Instruments: docs/telemetry.md.
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>The listen backlog: connections the OS queues before they are accepted. Defaults to 1,024.</summary>
    [Range(1, int.MaxValue)]
    public int ListenBacklog { get; set; } = 1024;

    /// <summary>
    /// How long <c>StopAsync</c> waits for clients to flush their queues and close before it aborts the rest.
    /// Defaults to 10 seconds.
    /// </summary>
    public TimeSpan GracefulStopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Links this server with other nodes into one logical server (<c>CbuffTcp.Redis</c>'s <c>RedisBackplane</c>, or
    /// <c>CbuffTcp.Testing</c>'s in-memory one): <c>SendToClient</c> and <c>CloseClient</c> reach clients of any node,
    /// broadcasts and group sends every node's clients. The server starts it with itself and stops it at its stop;
    /// one backplane serves one server. Defaults to null (this server alone). docs/scaleout.md.
    /// </summary>
    public ScaleOut.IBackplane? Backplane { get; set; }

    /// <summary>
    /// How long the async sends and closes to another node's client (<c>SendToClientAsync</c>, <c>CloseClientAsync</c>)
    /// wait for that node's answer before they return <see cref="SendResult.BackplaneUnavailable"/>. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan ClusterRequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal override void Validate()
    {
        base.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerIp, 1, nameof(MaxConnectionsPerIp));
        if (ConnectionRatePerIp is { } rate)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(rate, 1, nameof(ConnectionRatePerIp));
        }

        if (MessageRatePerConnection is { } messageRate)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(messageRate, 1, nameof(MessageRatePerConnection));
        }

        if (ByteRatePerConnection is { } byteRate)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(byteRate, 1, nameof(ByteRatePerConnection));
        }

        if (MemoryBudget is { } budget)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(budget, 1, nameof(MemoryBudget));
        }

        if (AcceptHighWater is { } high)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(high, 1, nameof(AcceptHighWater));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(high, MaxConnections, nameof(AcceptHighWater));
            ArgumentOutOfRangeException.ThrowIfNegative(AcceptLowWater ?? 0, nameof(AcceptLowWater));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(AcceptLowWater ?? 0, high, nameof(AcceptLowWater));
        }
        else if (AcceptLowWater is not null)
        {
            throw new ArgumentException("AcceptLowWater needs AcceptHighWater.", nameof(AcceptLowWater));
        }

        if (AcceptMemoryHighWater is { } memoryHigh)
        {
            if (memoryHigh is not (> 0 and <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(AcceptMemoryHighWater), memoryHigh, "AcceptMemoryHighWater is a fraction of the memory budget: above 0, at most 1.");
            }

            if (AcceptMemoryLowWater is { } memoryLow && !(memoryLow >= 0 && memoryLow < memoryHigh))
            {
                throw new ArgumentOutOfRangeException(nameof(AcceptMemoryLowWater), AcceptMemoryLowWater, "AcceptMemoryLowWater is a fraction of the memory budget: at least 0, under AcceptMemoryHighWater.");
            }
        }
        else if (AcceptMemoryLowWater is not null)
        {
            throw new ArgumentException("AcceptMemoryLowWater needs AcceptMemoryHighWater.", nameof(AcceptMemoryLowWater));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(ListenBacklog, 1, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TlsHandshakeTimeout, TimeSpan.Zero, nameof(TlsHandshakeTimeout));
        ProxyProtocol?.Validate();
        if (UsesTls)
        {
            ValidateTls();
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(GracefulStopTimeout, TimeSpan.Zero, nameof(GracefulStopTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ClusterRequestTimeout, TimeSpan.Zero, nameof(ClusterRequestTimeout));
    }

    // Apart from Validate: compiling a method that reads the certificate properties loads System.Net.Security and the
    // cryptography assemblies (1.6 MiB of RSS), which a server without TLS never needs.
    private void ValidateTls()
    {
        if (Tls is { ServerCertificate: null, ServerCertificateContext: null, ServerCertificateSelectionCallback: null })
        {
            throw new ArgumentException("Tls needs a server certificate (ServerCertificate, ServerCertificateContext or a selection callback).", nameof(Tls));
        }

        if (ProxyProtocol is not null)
        {
            throw new ArgumentException("ProxyProtocol together with Tls is not supported yet: the header would have to be read before the TLS handshake. Terminate TLS at the proxy, or leave one of them off.", nameof(ProxyProtocol));
        }
    }
}
