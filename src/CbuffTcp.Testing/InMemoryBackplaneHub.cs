using CbuffTcp.ScaleOut;

namespace CbuffTcp.Testing;

/// <summary>
/// Links servers in one process into a cluster with no Redis: give each server its own
/// <see cref="CreateBackplane"/> as <see cref="TcpServerOptions.Backplane"/>. Envelopes are delivered asynchronously
/// and in order, as a real backplane delivers them, so the cluster behaves as it would across machines; an outage is
/// one call (<see cref="InMemoryBackplane.IsReachable"/>, or <see cref="IsReachable"/> for every node at once).
/// </summary>
public sealed class InMemoryBackplaneHub
{
    private readonly Lock _lock = new();
    private readonly List<InMemoryBackplane> _nodes = [];
    private long _lastNodeId;
    private bool _reachable = true;

    /// <summary>Whether the hub is up, as a Redis server is: while false, no node is connected and nothing is delivered.</summary>
    public bool IsReachable
    {
        get => Volatile.Read(ref _reachable);
        set
        {
            Volatile.Write(ref _reachable, value);
            foreach (var node in Snapshot())
            {
                node.ReachabilityChanged();
            }
        }
    }

    /// <summary>A backplane for one more node.</summary>
    public InMemoryBackplane CreateBackplane() => new(this);

    internal long NextNodeId() => Interlocked.Increment(ref _lastNodeId);

    internal void Add(InMemoryBackplane node)
    {
        lock (_lock)
        {
            _nodes.Add(node);
        }
    }

    internal void Remove(InMemoryBackplane node)
    {
        lock (_lock)
        {
            _nodes.Remove(node);
        }
    }

    internal InMemoryBackplane[] Snapshot()
    {
        lock (_lock)
        {
            return [.. _nodes];
        }
    }
}
