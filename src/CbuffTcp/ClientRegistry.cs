using System.Collections.Concurrent;
using CbuffTcp.Connections;

namespace CbuffTcp;

/// <summary>
/// The live connections of a server, by id. Lookups are lock-free; broadcast walks a snapshot array that is rebuilt
/// only after the set changed, so a broadcast allocates nothing while the set is stable, and costs at most one extra
/// pass over the clients when they churn. A removal drops the snapshot, so an ended connection is not kept by it.
/// </summary>
internal sealed class ClientRegistry<TMessage>
{
    private readonly ConcurrentDictionary<long, TcpConnection<TMessage>> _connections = new();
    private Snapshot? _snapshot;
    private int _version;
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public bool TryAdd(TcpConnection<TMessage> connection)
    {
        if (!_connections.TryAdd(connection.Id, connection))
        {
            return false;
        }

        Interlocked.Increment(ref _count);
        Interlocked.Increment(ref _version);
        return true;
    }

    /// <summary>Removes the connection; true only for the call that actually removed it.</summary>
    public bool Remove(TcpConnection<TMessage> connection)
    {
        if (!_connections.TryRemove(new KeyValuePair<long, TcpConnection<TMessage>>(connection.Id, connection)))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        Interlocked.Increment(ref _version);
        // The last snapshot is stale now, and it would keep this connection (and all it references) alive until the
        // next broadcast or heartbeat rebuilt it: never, on a server that broadcast once and runs no timeouts.
        Volatile.Write(ref _snapshot, null);
        return true;
    }

    public bool TryGet(long id, out TcpConnection<TMessage> connection) => _connections.TryGetValue(id, out connection!);

    /// <summary>The connections as of the latest change. The array is never modified after it is returned.</summary>
    public TcpConnection<TMessage>[] GetSnapshot()
    {
        // The version is read before the dictionary: a change racing with the rebuild bumps it afterwards,
        // so a stale array is never stored under the newest version.
        var version = Volatile.Read(ref _version);
        var snapshot = Volatile.Read(ref _snapshot);
        if (snapshot is not null && snapshot.Version == version)
        {
            return snapshot.Connections;
        }

        var values = _connections.Values; // a copy, taken under the dictionary's locks
        var connections = new TcpConnection<TMessage>[values.Count];
        values.CopyTo(connections, 0); // not a spread: that goes through System.Linq, loaded for nothing else
        snapshot = new Snapshot(version, connections);
        Interlocked.Exchange(ref _snapshot, snapshot); // a full fence: the check below cannot read the version before this store
        if (Volatile.Read(ref _version) != version)
        {
            // A removal raced with this rebuild and may have dropped the snapshot before it was stored: drop it again,
            // or it could keep the removed connection alive.
            Interlocked.CompareExchange(ref _snapshot, null, snapshot);
        }

        return connections;
    }

    private sealed record Snapshot(int Version, TcpConnection<TMessage>[] Connections);
}
