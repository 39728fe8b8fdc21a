using System.Threading.Channels;
using CbuffTcp.ScaleOut;

namespace CbuffTcp.Testing;

/// <summary>
/// One node's backplane on an <see cref="InMemoryBackplaneHub"/>. Each node receives on its own loop, one envelope at
/// a time in the order published; presence is read live from the nodes that are started and reachable.
/// </summary>
public sealed class InMemoryBackplane : IBackplane
{
    private readonly InMemoryBackplaneHub _hub;
    private readonly HashSet<string> _groups = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private Channel<byte[]>? _inbox;
    private Task _receiving = Task.CompletedTask;
    private IBackplaneReceiver? _receiver;
    private bool _reachable = true;
    private bool _started;
    private long _nodeId;

    internal InMemoryBackplane(InMemoryBackplaneHub hub) => _hub = hub;

    /// <inheritdoc/>
    public long NodeId => Volatile.Read(ref _nodeId);

    /// <inheritdoc/>
    public bool IsConnected => Volatile.Read(ref _started) && Volatile.Read(ref _reachable) && _hub.IsReachable;

    /// <summary>Whether this node can reach the hub: false cuts it off (an outage of its own), true brings it back.</summary>
    public bool IsReachable
    {
        get => Volatile.Read(ref _reachable);
        set
        {
            Volatile.Write(ref _reachable, value);
            ReachabilityChanged();
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<ClusterNode> Nodes => IsConnected ? [.. LiveNodes().Select(node => node.Describe())] : [];

    /// <inheritdoc/>
    public Task<IReadOnlyList<ClusterNode>> GetNodesAsync(CancellationToken cancellationToken = default) => Task.FromResult(Nodes);

    /// <inheritdoc/>
    public Task StartAsync(IBackplaneReceiver receiver, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        _receiver = receiver;
        _inbox = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        _receiving = ReceiveAsync(_inbox.Reader, receiver);
        Volatile.Write(ref _nodeId, _hub.NextNodeId()); // each start is a new node life, with a new id
        Volatile.Write(ref _started, true);
        _hub.Add(this);
        ReachabilityChanged();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        Volatile.Write(ref _started, false);
        _hub.Remove(this);
        _inbox?.Writer.TryComplete();
        await _receiving.ConfigureAwait(false);
    }

    /// <summary>Drops out as a killed process would: no more presence or delivery, and nothing said to the others.</summary>
    public void Crash()
    {
        Volatile.Write(ref _started, false);
        _hub.Remove(this);
        _inbox?.Writer.TryComplete();
    }

    /// <inheritdoc/>
    public bool Publish(BackplaneTarget target, ReadOnlySpan<byte> envelope)
    {
        if (!IsConnected)
        {
            return false;
        }

        var copy = envelope.ToArray();
        foreach (var node in LiveNodes())
        {
            if (target.Kind switch
                {
                    BackplaneTargetKind.AllNodes => true,
                    BackplaneTargetKind.Node => node.NodeId == target.NodeId,
                    _ => node.Listens(target.Group!),
                })
            {
                node._inbox!.Writer.TryWrite(copy);
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public void SubscribeGroup(string group)
    {
        lock (_lock)
        {
            _groups.Add(group);
        }
    }

    /// <inheritdoc/>
    public void UnsubscribeGroup(string group)
    {
        lock (_lock)
        {
            _groups.Remove(group);
        }
    }

    /// <summary>The groups this node listens to now.</summary>
    public IReadOnlyList<string> SubscribedGroups
    {
        get
        {
            lock (_lock)
            {
                return [.. _groups];
            }
        }
    }

    /// <inheritdoc/>
    public bool IsNodeAlive(long nodeId) => LiveNodes().Any(node => node.NodeId == nodeId);

    /// <inheritdoc/>
    public void RefreshPresence()
    {
        // Presence is read live: nothing to write.
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _started))
        {
            await StopAsync().ConfigureAwait(false);
        }
    }

    internal void ReachabilityChanged()
    {
        if (Volatile.Read(ref _started) && _receiver is { } receiver)
        {
            var connected = IsConnected;
            receiver.OnConnectionChanged(connected, connected ? "in memory" : "the in-memory hub is unreachable", null);
        }
    }

    private bool Listens(string group)
    {
        lock (_lock)
        {
            return _groups.Contains(group);
        }
    }

    private ClusterNode Describe()
    {
        var presence = _receiver!.GetPresence();
        return new ClusterNode(NodeId, presence.ClientCount, presence.EndPoint, presence.Metadata);
    }

    private IEnumerable<InMemoryBackplane> LiveNodes() => _hub.Snapshot().Where(node => node.IsConnected);

    private static async Task ReceiveAsync(ChannelReader<byte[]> inbox, IBackplaneReceiver receiver)
    {
        await foreach (var envelope in inbox.ReadAllAsync().ConfigureAwait(false))
        {
            receiver.OnEnvelope(envelope);
        }
    }
}
