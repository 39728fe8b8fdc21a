namespace CbuffTcp.ScaleOut;

/// <summary>
/// Carries envelopes between the nodes of one logical server, so that <c>SendToClient</c>, <c>CloseClient</c>,
/// broadcasts and group sends reach clients held by other nodes (<c>CbuffTcp.Redis</c> ships one over Redis pub/sub,
/// <c>CbuffTcp.Testing</c> one in memory). A backplane serves one server: set it as
/// <see cref="TcpServerOptions.Backplane"/>; the server starts and stops it.
/// </summary>
/// <remarks>
/// The server encodes and decodes the envelopes; a backplane only moves bytes, names the node, and keeps presence.
/// It listens on a fixed set of channels whatever the client count: one for every node, one for its own node, and one
/// per group that has a member on this node. Envelopes published on one channel by one node arrive in the order
/// published. Members other than <see cref="StartAsync"/>, <see cref="StopAsync"/> and
/// <see cref="IAsyncDisposable.DisposeAsync"/> never block and never throw for the state of the connection.
/// </remarks>
public interface IBackplane : IAsyncDisposable
{
    /// <summary>
    /// This node's id in the cluster, never given to another node (nor to this one after a restart); 0 until the
    /// node has joined. It goes into the upper bits of every client id the node gives out, so routing needs no lookup.
    /// </summary>
    long NodeId { get; }

    /// <summary>Whether envelopes can be published and received now.</summary>
    bool IsConnected { get; }

    /// <summary>
    /// The live nodes as of the latest heartbeat, this one included. A node that stops heartbeating drops out
    /// within the presence expiry.
    /// </summary>
    IReadOnlyList<ClusterNode> Nodes { get; }

    /// <summary>
    /// Reads the live nodes from the store now, rather than as of the latest heartbeat (and keeps them as
    /// <see cref="Nodes"/>). Empty while not connected.
    /// </summary>
    Task<IReadOnlyList<ClusterNode>> GetNodesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts connecting and returns: a backplane whose store is unreachable keeps trying in the background (the server
    /// serves its own clients meanwhile) and joins once it can, telling <paramref name="receiver"/>.
    /// </summary>
    Task StartAsync(IBackplaneReceiver receiver, CancellationToken cancellationToken = default);

    /// <summary>Leaves the cluster (presence removed at once where the store is reachable) and stops receiving.</summary>
    Task StopAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands <paramref name="envelope"/> to the backplane for <paramref name="target"/>; the backplane copies what it
    /// keeps. False when it cannot take it now (not connected, or not joined yet): nothing was sent.
    /// </summary>
    bool Publish(BackplaneTarget target, ReadOnlySpan<byte> envelope);

    /// <summary>Starts receiving the envelopes published to <paramref name="group"/> (the first local member joined).</summary>
    void SubscribeGroup(string group);

    /// <summary>Stops receiving the envelopes of <paramref name="group"/> (its last local member left).</summary>
    void UnsubscribeGroup(string group);

    /// <summary>Whether <paramref name="nodeId"/> was alive at the latest heartbeat.</summary>
    bool IsNodeAlive(long nodeId);

    /// <summary>Writes this node's presence now rather than at the next heartbeat (its metadata changed).</summary>
    void RefreshPresence();
}
