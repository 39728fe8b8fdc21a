using System.Collections.Concurrent;
using CbuffTcp.Connections;
using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp.ScaleOut;

/// <summary>
/// A server's side of its backplane: it writes the envelopes for sends, closes and group sends to clients of other
/// nodes, delivers those that arrive to local clients, answers and awaits requests, and counts gaps. Messages travel
/// packed, as the send queue takes them: a broadcast is packed once for local and remote clients alike.
/// </summary>
internal sealed class ClusterLink<TMessage> : IBackplaneReceiver
{
    // Channel names for sequence counting; group names never start with a control character.
    private const string AllChannel = "\u0001all";
    private const string NodeChannel = "\u0001node";

    private readonly TcpServer<TMessage> _server;
    private readonly IBackplane _backplane;
    private readonly uint _protocolId;
    private readonly ILogger _logger;
    private readonly ChannelSequences _sequences = new();
    private readonly ConcurrentDictionary<long, TaskCompletionSource<int>> _pending = new();
    private long _lastRequestId;
    private long _published;
    private long _received;
    private long _refused;
    private int _refusalLogged;
    private int _connected = -1;
    private long _joinedAs; // the node id this server last gave client ids with

    public ClusterLink(TcpServer<TMessage> server, IBackplane backplane, Type protocolType, ILogger logger)
    {
        _server = server;
        _backplane = backplane;
        _protocolId = Envelope.Fingerprint(protocolType);
        _logger = logger;
    }

    public IBackplane Backplane => _backplane;

    public long NodeId => _backplane.NodeId;

    public long Gaps => _sequences.Gaps;

    public long Published => Interlocked.Read(ref _published);

    public long Received => Interlocked.Read(ref _received);

    public long Refused => Interlocked.Read(ref _refused);

    public string? Metadata { get; set; }

    /// <summary>Whether <paramref name="clientId"/> belongs to another node (ids given out before this node joined are its own).</summary>
    public bool IsRemote(long clientId)
    {
        var owner = ClientIds.NodeOf(clientId);
        return owner != 0 && owner != _backplane.NodeId;
    }

    /// <summary>Where a client of another node stands before anything is sent: unavailable, or gone with its node.</summary>
    public SendResult? CheckOwner(long clientId)
    {
        if (!_backplane.IsConnected || _backplane.NodeId == 0)
        {
            return SendResult.BackplaneUnavailable;
        }

        return _backplane.IsNodeAlive(ClientIds.NodeOf(clientId)) ? null : SendResult.NotFound;
    }

    /// <summary>Publishes packed messages for every other node's clients (but <paramref name="exceptClientId"/>).</summary>
    public ClusterDelivery PublishBroadcast(ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths, long exceptClientId)
    {
        var target = BackplaneTarget.AllNodes;
        var writer = Begin(EnvelopeKind.Broadcast, target, 8 + Envelope.MessagesSize(lengths, packed.Length));
        writer.Int64(exceptClientId);
        writer.Messages(packed, lengths);
        return Publish(target, ref writer) ? ClusterDelivery.Published : ClusterDelivery.Unavailable;
    }

    /// <summary>Publishes packed messages for the members of <paramref name="group"/> on other nodes.</summary>
    public ClusterDelivery PublishToGroup(string group, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths, long exceptClientId)
    {
        var target = BackplaneTarget.ToGroup(group);
        var writer = Begin(EnvelopeKind.Group, target, Envelope.StringSize(group) + 8 + Envelope.MessagesSize(lengths, packed.Length));
        writer.String(group);
        writer.Int64(exceptClientId);
        writer.Messages(packed, lengths);
        return Publish(target, ref writer) ? ClusterDelivery.Published : ClusterDelivery.Unavailable;
    }

    /// <summary>Sends packed messages to a client of another node; with <paramref name="requestId"/>, its owner answers.</summary>
    public SendResult PublishDirect(long clientId, ReadOnlySpan<byte> packed, ReadOnlySpan<int> lengths, long requestId)
    {
        var target = BackplaneTarget.Node(ClientIds.NodeOf(clientId));
        var writer = Begin(EnvelopeKind.Direct, target, 16 + Envelope.MessagesSize(lengths, packed.Length));
        writer.Int64(clientId);
        writer.Int64(requestId);
        writer.Messages(packed, lengths);
        return Publish(target, ref writer) ? SendResult.Forwarded : SendResult.BackplaneUnavailable;
    }

    /// <summary>Asks a client's owner node to close it; with <paramref name="requestId"/>, the owner answers.</summary>
    public CloseResult PublishClose(long clientId, string reason, long requestId)
    {
        var target = BackplaneTarget.Node(ClientIds.NodeOf(clientId));
        var writer = Begin(EnvelopeKind.Close, target, 16 + Envelope.StringSize(reason));
        writer.Int64(clientId);
        writer.Int64(requestId);
        writer.String(reason);
        return Publish(target, ref writer) ? CloseResult.Forwarded : CloseResult.BackplaneUnavailable;
    }

    /// <summary>A request id and the task its answer completes.</summary>
    public (long RequestId, TaskCompletionSource<int> Answer) NewRequest()
    {
        var id = Interlocked.Increment(ref _lastRequestId);
        var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        return (id, answer);
    }

    /// <summary>Waits for the answer to a request, up to <paramref name="timeout"/>; null when none came.</summary>
    public async ValueTask<int?> AwaitAnswerAsync(long requestId, TaskCompletionSource<int> answer, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await answer.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    public void Forget(long requestId) => _pending.TryRemove(requestId, out _);

    public void SubscribeGroup(string group) => _backplane.SubscribeGroup(group);

    public void UnsubscribeGroup(string group)
    {
        _backplane.UnsubscribeGroup(group);
        _sequences.ForgetGroup(group);
    }

    void IBackplaneReceiver.OnEnvelope(ReadOnlySpan<byte> envelope)
    {
        Interlocked.Increment(ref _received);
        try
        {
            Deliver(envelope);
        }
        catch (FormatException ex)
        {
            Refuse($"a malformed envelope: {ex.Message}", ex);
        }
        catch (Exception ex)
        {
            // Delivery queues bytes and never runs user code: an exception here is a CbuffTcp bug. Report it and keep
            // the backplane's receive loop alive for the envelopes behind it.
            _server.ReportError(logger => Log.EnvelopeRefused(logger, $"an envelope that failed to deliver: {ex.Message}", ex), $"Delivering an envelope from the backplane failed: {ex.Message}", ex);
        }
    }

    void IBackplaneReceiver.OnConnectionChanged(bool connected, string detail, Exception? exception)
    {
        CloseClientsOfLostId(detail);
        if (Interlocked.Exchange(ref _connected, connected ? 1 : 0) == (connected ? 1 : 0))
        {
            return; // one log line per transition
        }

        if (connected)
        {
            Log.BackplaneConnected(_logger, _backplane.NodeId, detail);
        }
        else
        {
            _server.ReportError(logger => Log.BackplaneUnavailable(logger, detail, exception), $"The backplane is unavailable ({detail}): local clients are served; sends to other nodes return BackplaneUnavailable until it is back.", exception);
        }
    }

    /// <summary>
    /// A backplane that changed this node's id (one that gave its id up to an older holder) leaves clients whose ids
    /// name the old id, which now belongs to another node: sends to them would reach that node. They are closed, and
    /// reconnect with ids of the new one.
    /// </summary>
    private void CloseClientsOfLostId(string detail)
    {
        var current = _backplane.NodeId;
        var previous = Interlocked.Exchange(ref _joinedAs, current);
        if (previous != 0 && previous != current)
        {
            _server.CloseClientsOfNode(previous, $"this node gave up its cluster id {previous}: {detail}");
        }
    }

    NodePresence IBackplaneReceiver.GetPresence() => new(_server.ClientCount, _server.LocalEndPoint?.ToString(), Metadata);

    private EnvelopeWriter Begin(EnvelopeKind kind, in BackplaneTarget target, int bodySize) =>
        Envelope.Begin(kind, _protocolId, _backplane.NodeId, _sequences.Next(target), bodySize);

    /// <summary>Hands a written envelope to the backplane (which copies what it keeps) and returns its array to the pool.</summary>
    private bool Publish(in BackplaneTarget target, ref EnvelopeWriter writer)
    {
        try
        {
            if (!_backplane.Publish(target, writer.Written))
            {
                return false;
            }

            Interlocked.Increment(ref _published);
            return true;
        }
        finally
        {
            writer.Return();
        }
    }

    private void Deliver(ReadOnlySpan<byte> envelope)
    {
        var reader = new EnvelopeReader(envelope);
        var version = reader.Byte();
        var kind = (EnvelopeKind)reader.Byte();
        var protocolId = reader.UInt32();
        if (version != Envelope.Version || protocolId != _protocolId)
        {
            Refuse(version != Envelope.Version
                ? $"an envelope of version {version} (this node speaks {Envelope.Version})"
                : "an envelope of another protocol (nodes of one cluster must run the same protocol type)", null);
            return;
        }

        var sender = reader.Int64();
        var sequence = reader.Int64();
        if (sender == _backplane.NodeId)
        {
            return; // its own broadcast or group send: delivered locally before it was published
        }

        switch (kind)
        {
            case EnvelopeKind.Broadcast:
            {
                _sequences.Received(sender, AllChannel, sequence);
                var except = reader.Int64();
                reader.Messages(out var lengths, out var packed);
                _server.DeliverToAll(packed, lengths, except);
                break;
            }

            case EnvelopeKind.Group:
            {
                var group = reader.String();
                _sequences.Received(sender, group, sequence);
                var except = reader.Int64();
                reader.Messages(out var lengths, out var packed);
                _server.DeliverToGroup(group, packed, lengths, except);
                break;
            }

            case EnvelopeKind.Direct:
            {
                _sequences.Received(sender, NodeChannel, sequence);
                var clientId = reader.Int64();
                var requestId = reader.Int64();
                reader.Messages(out var lengths, out var packed);
                var result = _server.DeliverTo(clientId, packed, lengths);
                Answer(sender, requestId, (int)result);
                break;
            }

            case EnvelopeKind.Close:
            {
                _sequences.Received(sender, NodeChannel, sequence);
                var clientId = reader.Int64();
                var requestId = reader.Int64();
                var reason = reader.String();
                var result = _server.CloseClient(clientId, reason);
                Answer(sender, requestId, (int)result);
                break;
            }

            case EnvelopeKind.Reply:
            {
                _sequences.Received(sender, NodeChannel, sequence);
                var requestId = reader.Int64();
                var result = reader.Int32();
                if (_pending.TryRemove(requestId, out var answer))
                {
                    answer.TrySetResult(result);
                }

                break;
            }

            default:
                Refuse($"an envelope of unknown kind {(byte)kind}", null);
                break;
        }
    }

    private void Answer(long node, long requestId, int result)
    {
        if (requestId == 0)
        {
            return;
        }

        var target = BackplaneTarget.Node(node);
        var writer = Begin(EnvelopeKind.Reply, target, 12);
        writer.Int64(requestId);
        writer.Int32(result);
        Publish(target, ref writer);
    }

    /// <summary>Envelopes this node cannot read are dropped; the first is reported, the rest only counted.</summary>
    private void Refuse(string what, Exception? error)
    {
        Interlocked.Increment(ref _refused);
        if (Interlocked.Exchange(ref _refusalLogged, 1) == 0)
        {
            _server.ReportError(logger => Log.EnvelopeRefused(logger, what, error), $"The backplane brought {what}: it was dropped (further ones are counted, not reported).", error);
        }
    }
}
