namespace CbuffTcp;

/// <summary>Settings of a <see cref="TcpServer{TMessage}"/>. Validated once, when the server starts.</summary>
public sealed class TcpServerOptions : TcpConnectionOptions
{
    /// <summary>
    /// The most clients connected at once. A connection past it is closed as soon as it is accepted, with no handler
    /// call. Defaults to 10,000.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// The most clients connected at once from one IP address. A connection past it is closed as soon as it is
    /// accepted, with no handler call; other addresses are unaffected. Defaults to 10,000.
    /// </summary>
    public int MaxConnectionsPerIp { get; set; } = 10_000;

    /// <summary>The listen backlog: connections the OS queues before they are accepted. Defaults to 1,024.</summary>
    public int ListenBacklog { get; set; } = 1024;

    /// <summary>
    /// How long <c>StopAsync</c> waits for clients to flush their queues and close before it aborts the rest.
    /// Defaults to 10 seconds.
    /// </summary>
    public TimeSpan GracefulStopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal override void Validate()
    {
        base.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerIp, 1, nameof(MaxConnectionsPerIp));
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenBacklog, 1, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThan(GracefulStopTimeout, TimeSpan.Zero, nameof(GracefulStopTimeout));
    }
}
