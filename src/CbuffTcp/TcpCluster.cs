using CbuffTcp.ScaleOut;

namespace CbuffTcp;

/// <summary>
/// A server's view of the cluster it belongs to through its backplane (<see cref="TcpServer{TMessage}.Cluster"/>):
/// who it is, whether it is connected, which nodes are alive with how many clients, and what was lost on the way.
/// </summary>
public sealed class TcpCluster
{
    private readonly IBackplane _backplane;
    private readonly Func<int> _localClients;
    private readonly Func<long> _gaps;
    private readonly Action<string?> _setMetadata;
    private string? _metadata;

    internal TcpCluster(IBackplane backplane, Func<int> localClients, Func<long> gaps, Action<string?> setMetadata)
    {
        _backplane = backplane;
        _localClients = localClients;
        _gaps = gaps;
        _setMetadata = setMetadata;
    }

    /// <summary>This node's id (0 until it joined): the upper bits of the ids of the clients it accepts from then on.</summary>
    public long NodeId => _backplane.NodeId;

    /// <summary>
    /// Whether the backplane is connected: sends to other nodes' clients go through. While it is not, this node
    /// serves its own clients, accepts new ones, and returns <see cref="SendResult.BackplaneUnavailable"/> for the
    /// others'. Health checks read this.
    /// </summary>
    public bool IsConnected => _backplane.IsConnected && _backplane.NodeId != 0;

    /// <summary>The live nodes as of the latest heartbeat, this one included.</summary>
    public IReadOnlyList<ClusterNode> Nodes => _backplane.Nodes;

    /// <summary>Clients connected to the whole cluster: this node's now, the others' as of their latest heartbeat.</summary>
    public int ClientCount => CountClients(_backplane.Nodes);

    /// <summary>Reads the live nodes from the backplane's store now (a round trip), rather than as of the latest heartbeat.</summary>
    public Task<IReadOnlyList<ClusterNode>> GetNodesAsync(CancellationToken cancellationToken = default) => _backplane.GetNodesAsync(cancellationToken);

    /// <summary>Clients connected to the whole cluster, with the other nodes' counts read now (a round trip).</summary>
    public async Task<int> GetClientCountAsync(CancellationToken cancellationToken = default) =>
        CountClients(await _backplane.GetNodesAsync(cancellationToken).ConfigureAwait(false));

    private int CountClients(IReadOnlyList<ClusterNode> nodes)
    {
        var total = _localClients();
        foreach (var node in nodes)
        {
            if (node.NodeId != _backplane.NodeId)
            {
                total += node.ClientCount;
            }
        }

        return total;
    }

    /// <summary>
    /// Envelopes other nodes sent this node and it never received (delivery across nodes is at most once): counted
    /// from the senders' sequence numbers, per channel. Also the metric <c>cbufftcp.backplane.gaps</c>.
    /// </summary>
    public long Gaps => _gaps();

    /// <summary>
    /// A short text this node publishes with its presence (a few KiB at most), read by every node in
    /// <see cref="Nodes"/>: names, a version, a role. Setting it publishes it at once.
    /// </summary>
    public string? Metadata
    {
        get => Volatile.Read(ref _metadata);
        set
        {
            Volatile.Write(ref _metadata, value);
            _setMetadata(value);
        }
    }

    /// <summary>The largest node id: a backplane refuses to join past it (a million node lives).</summary>
    public const long MaxNodeId = ClientIds.MaxNodeId;

    /// <summary>The node that gave out <paramref name="clientId"/> (0 for a server without a cluster id at the time).</summary>
    public static long NodeIdOf(long clientId) => ClientIds.NodeOf(clientId);
}
