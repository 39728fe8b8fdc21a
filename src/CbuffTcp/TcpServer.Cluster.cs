using CbuffTcp.ScaleOut;

namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    /// <summary>The cluster this server belongs to through <see cref="TcpServerOptions.Backplane"/>; null without one.</summary>
    public TcpCluster? Cluster { get; }

    /// <summary>
    /// Like <see cref="SendToClient"/>, but for a client of another node it waits for that node's answer (up to
    /// <see cref="TcpServerOptions.ClusterRequestTimeout"/>): <see cref="SendResult.Queued"/>,
    /// <see cref="SendResult.QueueFull"/>, <see cref="SendResult.NotFound"/>… rather than
    /// <see cref="SendResult.Forwarded"/>. A local client's send completes at once. The message is packed before the
    /// first await. Never throws for the client's state; cancelling throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public ValueTask<SendResult> SendToClientAsync(long clientId, TMessage message, CancellationToken cancellationToken = default)
    {
        if (_cluster is not { } cluster || !cluster.IsRemote(clientId))
        {
            return ValueTask.FromResult(SendToClient(clientId, message));
        }

        if (cluster.CheckOwner(clientId) is { } early)
        {
            return ValueTask.FromResult(early);
        }

        var (requestId, answer) = cluster.NewRequest();
        var sent = SendRemote(cluster, clientId, message, requestId);
        if (sent != SendResult.Forwarded)
        {
            cluster.Forget(requestId);
            return ValueTask.FromResult(sent);
        }

        return AwaitAnswerAsync<SendResult>(cluster, requestId, answer, SendResult.BackplaneUnavailable, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="CloseClient"/>, but for a client of another node it waits for that node's answer (up to
    /// <see cref="TcpServerOptions.ClusterRequestTimeout"/>): <see cref="CloseResult.Closed"/> or
    /// <see cref="CloseResult.NotFound"/>; <see cref="CloseResult.BackplaneUnavailable"/> when no answer came.
    /// </summary>
    public ValueTask<CloseResult> CloseClientAsync(long clientId, string reason, CancellationToken cancellationToken = default)
    {
        if (_cluster is not { } cluster || !cluster.IsRemote(clientId))
        {
            return ValueTask.FromResult(CloseClient(clientId, reason));
        }

        if (cluster.CheckOwner(clientId) is { } early)
        {
            return ValueTask.FromResult(AsCloseResult(early));
        }

        var (requestId, answer) = cluster.NewRequest();
        var sent = cluster.PublishClose(clientId, ClusterReason(reason), requestId);
        if (sent != CloseResult.Forwarded)
        {
            cluster.Forget(requestId);
            return ValueTask.FromResult(sent);
        }

        return AwaitAnswerAsync<CloseResult>(cluster, requestId, answer, CloseResult.BackplaneUnavailable, cancellationToken);
    }

    /// <summary>Queues packed messages that came through the backplane for every ready local client but one.</summary>
    internal void DeliverToAll(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths, long exceptClientId)
    {
        var tally = new BroadcastTally(_clients.GetSnapshot(), exceptClientId, cluster: null);
        tally.EnqueueAll(packed, lengths);
    }

    /// <summary>Queues packed messages that came through the backplane for a group's ready local members but one.</summary>
    internal void DeliverToGroup(string group, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths, long exceptClientId)
    {
        var tally = new BroadcastTally(_groups.MembersOf(group), exceptClientId, cluster: null);
        tally.EnqueueAll(packed, lengths);
    }

    /// <summary>Queues packed messages that came through the backplane for one local client.</summary>
    internal SendResult DeliverTo(long clientId, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) =>
        _clients.TryGet(clientId, out var connection) ? connection.EnqueuePacked(packed, lengths) : SendResult.NotFound;

    /// <summary>Closes the local clients whose ids carry <paramref name="nodeId"/>: this node's id before the backplane changed it.</summary>
    internal void CloseClientsOfNode(long nodeId, string reason)
    {
        foreach (var connection in _clients.GetSnapshot())
        {
            if (ClientIds.NodeOf(connection.Id) == nodeId)
            {
                connection.Close(reason);
            }
        }
    }

    /// <summary>Envelopes this node published (tests count one per broadcast).</summary>
    internal long PublishedEnvelopes => _cluster?.Published ?? 0;

    /// <summary>Envelopes dropped as unreadable (tests wait on it).</summary>
    internal long RefusedEnvelopes => _cluster?.Refused ?? 0;

    /// <summary>The id of a new client: this node's cluster id (0 before it joined, or alone) above its own counter.</summary>
    private long NextClientId() => ClientIds.Compose(_cluster?.NodeId ?? 0, Interlocked.Increment(ref _lastClientId));

    private SendResult SendRemote(ClusterLink<TMessage> cluster, long clientId, in TMessage message, long requestId)
    {
        if (requestId == 0 && cluster.CheckOwner(clientId) is { } early)
        {
            return early;
        }

        var send = new RemoteSend(cluster, clientId, requestId);
        return _packer.PackAll(new ReadOnlySpan<TMessage>(in message), ref send, static (ref RemoteSend s, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths) =>
            s.Result = s.Cluster.PublishDirect(s.ClientId, packed, lengths, s.RequestId))
            ? send.Result
            : SendResult.QueueFull;
    }

    private static CloseResult CloseRemote(ClusterLink<TMessage> cluster, long clientId, string reason) =>
        cluster.CheckOwner(clientId) is { } early ? AsCloseResult(early) : cluster.PublishClose(clientId, ClusterReason(reason), requestId: 0);

    /// <summary>What <see cref="ClusterLink{TMessage}.CheckOwner"/> said about a remote client, for a close.</summary>
    private static CloseResult AsCloseResult(SendResult early) =>
        early == SendResult.NotFound ? CloseResult.NotFound : CloseResult.BackplaneUnavailable;

    private async ValueTask<TResult> AwaitAnswerAsync<TResult>(ClusterLink<TMessage> cluster, long requestId, TaskCompletionSource<int> answer, TResult noAnswer, CancellationToken cancellationToken)
        where TResult : struct, Enum
    {
        var result = await cluster.AwaitAnswerAsync(requestId, answer, _options.ClusterRequestTimeout, cancellationToken).ConfigureAwait(false);
        return result is { } value ? (TResult)Enum.ToObject(typeof(TResult), value) : noAnswer;
    }

    /// <summary>A close reason travels as at most 1,024 characters.</summary>
    private static string ClusterReason(string reason) => reason.Length <= 1024 ? reason : reason[..1024];

    private ClusterLink<TMessage>? CreateCluster(out TcpCluster? view)
    {
        view = null;
        if (_options.Backplane is not { } backplane)
        {
            return null;
        }

        var link = new ClusterLink<TMessage>(this, backplane, _protocol.GetType(), _logger);
        view = new TcpCluster(backplane, () => _clients.Count, () => link.Gaps, metadata =>
        {
            link.Metadata = metadata;
            backplane.RefreshPresence();
        });
        return link;
    }

    /// <summary>Carries a send to another node's client into the packer (a struct: nothing allocated for it).</summary>
    private struct RemoteSend(ClusterLink<TMessage> cluster, long clientId, long requestId)
    {
        public readonly ClusterLink<TMessage> Cluster = cluster;
        public readonly long ClientId = clientId;
        public readonly long RequestId = requestId;
        public SendResult Result = SendResult.PackFailed;
    }
}
