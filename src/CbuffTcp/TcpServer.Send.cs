using CbuffTcp.Connections;
using CbuffTcp.ScaleOut;
using CbuffTcp.Telemetry;

namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    /// <summary>
    /// Packs <paramref name="message"/> and queues it for one client (the seed's <c>SendToClient</c>), for sends
    /// from outside that client's callbacks: inside them, <see cref="TcpConnection{TMessage}.Send(in TMessage)"/>
    /// takes no lookup. Never blocks and never throws for the client's state: the result says what happened.
    /// </summary>
    /// <param name="clientId">The client's id.</param>
    /// <param name="message">The message. It is packed before this returns, so it may be a view that is about to be reused.</param>
    /// <remarks>
    /// With a backplane, a client of another node is reached through it: <see cref="SendResult.Forwarded"/> (sent to
    /// its live node), <see cref="SendResult.NotFound"/> at once when that node is not alive, or
    /// <see cref="SendResult.BackplaneUnavailable"/> while the backplane is down. <see cref="SendToClientAsync"/>
    /// returns the owner's own answer instead.
    /// </remarks>
    public SendResult SendToClient(long clientId, in TMessage message)
    {
        if (_cluster is { } cluster && cluster.IsRemote(clientId))
        {
            return SendRemote(cluster, clientId, message, requestId: 0);
        }

        return _clients.TryGet(clientId, out var connection) ? connection.Send(message) : SendResult.NotFound;
    }

    /// <summary>
    /// Packs <paramref name="message"/> once and queues the same bytes for every connected client (the seed's
    /// <c>SendToAllClients</c>). A client whose queue is full does not slow down or hold up the others. Clients whose
    /// <c>OnConnectedAsync</c> has not completed yet are skipped, so nobody sees a broadcast before its own welcome.
    /// With a backplane, local clients get it first, then the packed bytes are published once for every other node's
    /// clients (<see cref="BroadcastResult.Cluster"/> says whether they were).
    /// </summary>
    public BroadcastResult SendToAllClients(in TMessage message) => Broadcast(new ReadOnlySpan<TMessage>(in message), exceptClientId: 0);

    /// <summary>Like <see cref="SendToAllClients(in TMessage)"/>, but skips one client (typically the sender of a chat line).</summary>
    public BroadcastResult SendToAllClientsExcept(long clientId, in TMessage message) => Broadcast(new ReadOnlySpan<TMessage>(in message), clientId);

    /// <summary>
    /// Packs <paramref name="messages"/> once and queues them, in order, for every connected client: each client's
    /// queue takes all of them or none (the result counts clients), with one lock, one copy and one wake-up per client
    /// rather than one per message; from 1 KiB on, clients on the I/O threads share one copy by reference. Relaying a
    /// received batch this way (<c>SendToAllClients(messages.AsSpan())</c>) is the cheapest broadcast there is. A message whose <c>Pack</c> throws is reported through <c>OnError</c> and left out.
    /// </summary>
    public BroadcastResult SendToAllClients(ReadOnlySpan<TMessage> messages) => Broadcast(messages, exceptClientId: 0);

    /// <summary>Like <see cref="SendToAllClients(ReadOnlySpan{TMessage})"/>, but skips one client (typically the sender).</summary>
    public BroadcastResult SendToAllClientsExcept(long clientId, ReadOnlySpan<TMessage> messages) => Broadcast(messages, clientId);

    /// <summary>
    /// Closes one client (the seed's <c>CloseClient</c>): reading stops, what was queued for it is flushed, and its
    /// <c>OnDisconnectedAsync</c> receives <see cref="DisconnectReason.ClosedLocally"/> with <paramref name="reason"/>.
    /// With a backplane, a client of another node is closed by its node: <see cref="CloseResult.Forwarded"/>.
    /// </summary>
    public CloseResult CloseClient(long clientId, string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (_cluster is { } cluster && cluster.IsRemote(clientId))
        {
            return CloseRemote(cluster, clientId, reason);
        }

        if (!_clients.TryGet(clientId, out var connection))
        {
            return CloseResult.NotFound;
        }

        connection.Close(reason);
        return CloseResult.Closed;
    }

    /// <summary>
    /// Closes several clients with the same reason (the seed's <c>CloseClients</c>). Returns how many were closed here
    /// or forwarded to their live node.
    /// </summary>
    public int CloseClients(IEnumerable<long> clientIds, string reason)
    {
        ArgumentNullException.ThrowIfNull(clientIds);
        var closed = 0;
        foreach (var id in clientIds)
        {
            if (CloseClient(id, reason) is CloseResult.Closed or CloseResult.Forwarded)
            {
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Bytes queued for a client or being written to it now; 0 for an unknown id (the connection's own <see cref="TcpConnection{TMessage}.QueuedBytes"/> takes no lookup).</summary>
    public int GetQueuedBytes(long clientId) => _clients.TryGet(clientId, out var connection) ? connection.QueuedBytes : 0;

    /// <summary>Times any client's write loop woke from an empty queue (tests use it to show idle clients cost nothing).</summary>
    internal long TotalWriteLoopWakeups() => _clients.GetSnapshot().Sum(c => c.WriteLoopWakeups);

    /// <summary>Of those, the wake-ups that ran on the thread that had just handled the client's batch (tests show echoes take no thread hop).</summary>
    internal long TotalInlineWriteLoopWakeups() => _clients.GetSnapshot().Sum(c => c.InlineWriteLoopWakeups);

    /// <summary>Traffic of the clients connected now (the metrics add that of clients gone).</summary>
    private TrafficTotals LiveTraffic()
    {
        var totals = default(TrafficTotals);
        foreach (var connection in _clients.GetSnapshot())
        {
            totals += connection.Traffic;
        }

        return totals;
    }

    /// <summary>Bytes received from a client so far; 0 for an unknown id.</summary>
    internal long GetReceivedBytes(long clientId) => _clients.TryGet(clientId, out var connection) ? connection.ReceivedBytes : 0;

    /// <summary>The I/O mode the server was configured with (hosting tests check it was bound).</summary>
    internal IoMode IoMode => _options.IoMode;

    /// <summary>Whether that client's receive loop is waiting on it (its timeout clocks run); tests wait for it before moving a fake clock.</summary>
    internal bool IsWaitingOnPeer(long clientId) => _clients.TryGet(clientId, out var connection) && connection.IsAwaitingData;

    private BroadcastResult Broadcast(ReadOnlySpan<TMessage> messages, long exceptClientId) =>
        Broadcast(messages, new BroadcastTally(_clients.GetSnapshot(), exceptClientId, _cluster));

    /// <summary>Packs once, queues for the tally's local targets, then publishes for the other nodes' (with a backplane).</summary>
    private BroadcastResult Broadcast(ReadOnlySpan<TMessage> messages, BroadcastTally tally)
    {
        if (!_packer.PackAll(messages, ref tally, static (ref BroadcastTally t, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) =>
        {
            t.EnqueueAll(packed, lengths);
            t.Publish(packed, lengths);
        }))
        {
            tally.RejectAll(); // no room in the server's memory budget to pack them: refused for every target
        }

        return new BroadcastResult(tally.Queued, tally.Rejected) { Cluster = tally.Cluster };
    }

    /// <summary>
    /// Carries a broadcast's targets (and, for one sent from this node, its backplane and group) into the packer and
    /// counts the outcome (a struct: a broadcast allocates nothing).
    /// </summary>
    private struct BroadcastTally(TcpConnection<TMessage>[] targets, long exceptClientId, ClusterLink<TMessage>? cluster, string? group = null)
    {
        public int Queued { get; private set; }

        public int Rejected { get; private set; }

        public ClusterDelivery Cluster { get; private set; }

        public void Publish(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths)
        {
            if (cluster is not null)
            {
                Cluster = group is null
                    ? cluster.PublishBroadcast(packed, lengths, exceptClientId)
                    : cluster.PublishToGroup(group, packed, lengths, exceptClientId);
            }
        }

        public void RejectAll()
        {
            foreach (var connection in targets)
            {
                if (IsTarget(connection))
                {
                    Rejected++;
                }
            }
        }

        /// <summary>
        /// Queues the packed bytes for every target: by reference to one copy for the clients whose sends gather arrays
        /// (when the bytes are large enough to be worth it, see <see cref="SharedSendBytes"/>), a copy in each queue otherwise.
        /// </summary>
        public void EnqueueAll(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths)
        {
            var share = packed.Length >= SharedSendBytes.MinLength && targets.Length > 1;
            SharedSendBytes? shared = null;
            try
            {
                foreach (var connection in targets)
                {
                    if (!IsTarget(connection))
                    {
                        continue;
                    }

                    var byReference = share && connection.SendsGathered;
                    if (byReference)
                    {
                        shared ??= connection.ShareForBroadcast(packed);
                        byReference = share = shared is not null; // the memory budget had no room for it: each queue copies as it can
                    }

                    var result = byReference ? connection.EnqueueShared(shared!, lengths) : connection.EnqueuePacked(packed, lengths);
                    if (result == SendResult.Queued)
                    {
                        Queued++;
                    }
                    else
                    {
                        Rejected++;
                    }
                }
            }
            finally
            {
                shared?.Release(); // the broadcast's own reference: the queues hold theirs
            }
        }

        /// <summary>A ready client that is not the one excluded: the broadcast is for it.</summary>
        private readonly bool IsTarget(TcpConnection<TMessage> connection) => connection.Id != exceptClientId && connection.IsReady;
    }
}
