using System.Collections.Concurrent;
using System.Globalization;
using CbuffTcp.ScaleOut;
using StackExchange.Redis;
using ClusterNode = CbuffTcp.ScaleOut.ClusterNode;

namespace CbuffTcp.Redis;

/// <summary>
/// A backplane over Redis pub/sub (StackExchange.Redis): set it as <see cref="TcpServerOptions.Backplane"/> on each
/// node of one logical server. Each node listens on two channels whatever its client count (<c>{prefix}:all</c> and
/// its own <c>{prefix}:node:{id}</c>) plus one per group it has members of, gets its id from an <c>INCR</c> (never
/// reused), and heartbeats its presence into a key that expires, so a killed node drops out on its own.
/// </summary>
/// <remarks>
/// While Redis is unreachable, nothing is queued: publishes return false at once (the server then says
/// <see cref="SendResult.BackplaneUnavailable"/>), and the node reconnects, resubscribes and rejoins by itself. A
/// node started while Redis is down serves its own clients and joins when Redis comes. Docs: docs/scaleout.md.
/// </remarks>
public sealed class RedisBackplane : IBackplane
{
    // Claims an id for one node life and keeps the counter at or past it, in one step. A claim held by an older life
    // (claimed earlier by Redis's clock; the token breaks a tie) is not taken: -1. Otherwise the claim is (re)written
    // and the time it dates from comes back (ARGV[2] 0: now, for a new claim). A Redis restarted without persistence
    // forgets the counter and the claims: a node that lived through it claims its id back at its next heartbeat, and
    // a node that took that id meanwhile finds its own claim gone and takes a new id.
    private const string ClaimScript =
        "local at = tonumber(ARGV[2]) " +
        "if at == 0 then local t = redis.call('TIME') at = t[1] * 1000 + math.floor(t[2] / 1000) end " +
        "local held = redis.call('GET', KEYS[1]) " +
        "if held then local sep = string.find(held, ' ', 1, true) local other = string.sub(held, 1, sep - 1) " +
        "local otherAt = tonumber(string.sub(held, sep + 1)) " +
        "if other ~= ARGV[1] and (otherAt < at or (otherAt == at and other < ARGV[1])) then return -1 end end " +
        "redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. at, 'PX', ARGV[3]) " +
        "local c = tonumber(redis.call('GET', KEYS[2]) or '0') if c < tonumber(ARGV[4]) then redis.call('SET', KEYS[2], ARGV[4]) end " +
        "return at";

    // How many ids a join tries when each it draws is claimed by an older life already.
    private const int JoinAttempts = 8;

    // Milliseconds since this prefix's keys began on this Redis: the first call after Redis started empty marks the time
    // (Redis's clock, one for every node).
    private const string KeysAgeScript =
        "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) " +
        "redis.call('SET', KEYS[1], now, 'NX') return now - tonumber(redis.call('GET', KEYS[1]))";

    private readonly RedisBackplaneOptions _options;
    private readonly RedisKeys _keys;
    private readonly ConcurrentDictionary<string, bool> _wantedGroups = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ChannelMessageQueue> _groupQueues = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reconcile = new(1, 1);
    private readonly SemaphoreSlim _beat = new(1, 1);
    private readonly List<ChannelMessageQueue> _nodeQueues = [];
    private IBackplaneReceiver? _receiver;
    private ConnectionMultiplexer? _redis;
    private CancellationTokenSource? _stop;
    private Task _heartbeat = Task.CompletedTask;
    private volatile IReadOnlyList<ClusterNode> _nodes = [];
    private volatile HashSet<long> _alive = [];
    private long _newestSeen;
    private volatile bool _connected;
    private int _reported = -1; // the state last told to the receiver: -1 none yet, 0 down, 1 up
    private long _nodeId;
    private long _claimedAt; // when this node life claimed its id (Redis's clock, ms): the older claim keeps an id
    private string _lifeToken = string.Empty; // new at each start: a server started again is a new node life

    /// <summary>Creates a backplane; the server starts it.</summary>
    public RedisBackplane(RedisBackplaneOptions? options = null)
    {
        _options = options ?? new RedisBackplaneOptions();
        _keys = new RedisKeys(_options.ChannelPrefix);
    }

    /// <inheritdoc/>
    public long NodeId => Interlocked.Read(ref _nodeId);

    /// <inheritdoc/>
    public bool IsConnected => _connected;

    /// <inheritdoc/>
    public IReadOnlyList<ClusterNode> Nodes => _nodes;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ClusterNode>> GetNodesAsync(CancellationToken cancellationToken = default)
    {
        if (!_connected || _redis is not { } redis)
        {
            return [];
        }

        try
        {
            await ReadPresenceAsync(redis.GetDatabase()).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // As of the latest heartbeat, then; the heartbeat reports the failure.
        }

        return _nodes;
    }

    /// <inheritdoc/>
    public async Task StartAsync(IBackplaneReceiver receiver, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        _options.Validate();
        if (_stop is not null)
        {
            throw new InvalidOperationException("This backplane is started already: one backplane serves one server.");
        }

        _receiver = receiver;
        _lifeToken = NewLifeToken();
        var configuration = ConfigurationOptions.Parse(_options.Configuration);
        configuration.AbortOnConnectFail = false;          // keep trying in the background: the node serves locally meanwhile
        configuration.BacklogPolicy = BacklogPolicy.FailFast; // never queue commands while disconnected
        configuration.ClientName ??= $"cbufftcp:{_options.ChannelPrefix}";
        // Retry at the heartbeat's pace rather than backing off for tens of seconds: a node rejoins soon after Redis is back.
        configuration.ReconnectRetryPolicy ??= new LinearRetry((int)_options.HeartbeatInterval.TotalMilliseconds);
        _redis = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
        _redis.ConnectionFailed += OnConnectionFailed;
        _redis.ConnectionRestored += OnConnectionRestored;
        _stop = new CancellationTokenSource();
        await BeatAsync().ConfigureAwait(false); // joins now when Redis is there
        _heartbeat = HeartbeatLoopAsync(_stop.Token);
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stop is not { } stop)
        {
            return;
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await _heartbeat.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stop.Dispose();
        _stop = null;
        var redis = _redis!;
        redis.ConnectionFailed -= OnConnectionFailed;
        redis.ConnectionRestored -= OnConnectionRestored;
        if (_connected && NodeId != 0)
        {
            try
            {
                // Leave presence at once, rather than when the key expires.
                var db = redis.GetDatabase();
                await Task.WhenAll(db.KeyDeleteAsync([_keys.Presence(NodeId), _keys.Claim(NodeId)]), db.SetRemoveAsync(_keys.Nodes, NodeId)).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The key expires by itself.
            }
        }

        _connected = false;
        _reported = -1;
        _claimedAt = 0;
        Interlocked.Exchange(ref _nodeId, 0); // a server started again is a new node life, with a new id
        await redis.CloseAsync().ConfigureAwait(false);
        await redis.DisposeAsync().ConfigureAwait(false);
        _redis = null;
        _nodeQueues.Clear();
        _groupQueues.Clear();
    }

    /// <inheritdoc/>
    public bool Publish(BackplaneTarget target, ReadOnlySpan<byte> envelope)
    {
        if (!_connected || NodeId == 0 || _redis is not { } redis)
        {
            return false;
        }

        var channel = target.Kind switch
        {
            BackplaneTargetKind.AllNodes => _keys.AllChannel,
            BackplaneTargetKind.Node => _keys.NodeChannel(target.NodeId),
            _ => _keys.GroupChannel(target.Group!),
        };
        try
        {
            redis.GetSubscriber().Publish(channel, envelope.ToArray(), CommandFlags.FireAndForget);
            return true;
        }
        catch (RedisException)
        {
            return false; // dropped the connection between the check and the publish: the heartbeat reports it
        }
    }

    /// <inheritdoc/>
    public void SubscribeGroup(string group)
    {
        _wantedGroups[group] = true;
        _ = ObserveAsync(ReconcileGroupsAsync());
    }

    /// <inheritdoc/>
    public void UnsubscribeGroup(string group)
    {
        _wantedGroups.TryRemove(group, out _);
        _ = ObserveAsync(ReconcileGroupsAsync());
    }

    /// <inheritdoc/>
    /// <remarks>A node newer than any seen at the latest heartbeat counts as alive: it joined since.</remarks>
    public bool IsNodeAlive(long nodeId) => _alive.Contains(nodeId) || (_connected && nodeId > Interlocked.Read(ref _newestSeen));

    /// <inheritdoc/>
    public void RefreshPresence() => _ = ObserveAsync(WritePresenceAsync());

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The semaphores stay undisposed: work started before the stop may still release them, and they hold no handle.
        await StopAsync().ConfigureAwait(false);
    }

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                await BeatAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    /// <summary>One heartbeat at a time: join if not yet, write presence, read everyone's; any Redis failure marks the backplane down.</summary>
    private async Task BeatAsync()
    {
        if (_redis is not { } redis)
        {
            return;
        }

        if (!redis.IsConnected)
        {
            SetConnected(false, "Redis is unreachable", null);
            return;
        }

        await _beat.WaitAsync().ConfigureAwait(false);
        try
        {
            var db = redis.GetDatabase();
            if (NodeId == 0)
            {
                if (await KeysAreNewAsync(db).ConfigureAwait(false))
                {
                    return; // the nodes that lived through a restart put the id counter back first
                }

                await JoinAsync(db, redis.GetSubscriber()).ConfigureAwait(false);
                if (NodeId == 0)
                {
                    return;
                }
            }
            else if (await ClaimAsync(db, NodeId, _claimedAt).ConfigureAwait(false) < 0)
            {
                await GiveUpIdAsync().ConfigureAwait(false);
                return;
            }

            await WritePresenceAsync(db).ConfigureAwait(false);
            await ReadPresenceAsync(db).ConfigureAwait(false);
            SetConnected(true, $"Redis {_options.Configuration}, prefix {_options.ChannelPrefix}", null);
            await ReconcileGroupsAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            SetConnected(false, ex.Message, ex);
        }
        finally
        {
            _beat.Release();
        }
    }

    /// <summary>
    /// Whether this prefix's keys on Redis began less than a presence expiry ago: a Redis restarted without persistence
    /// (or a new one). Such a Redis has forgotten the id counter, and the nodes that lived through the restart put it
    /// back past their ids as they reconnect, usually within a heartbeat or two. A node that took an id before they did
    /// could draw one of theirs, and would have to give it up (and close the clients it gave ids with it) when its
    /// older holder claims it back. So a node without an id waits until the keys are that old (the first node of a new
    /// cluster too: nothing tells the two cases apart); a survivor slower than that still gets its id back.
    /// </summary>
    private async Task<bool> KeysAreNewAsync(IDatabase db)
    {
        var age = (long)await db.ScriptEvaluateAsync(KeysAgeScript, [_keys.Epoch]).ConfigureAwait(false);
        return TimeSpan.FromMilliseconds(age) < _options.PresenceExpiry;
    }

    private async Task JoinAsync(IDatabase db, ISubscriber subscriber)
    {
        for (var attempt = 0; attempt < JoinAttempts; attempt++)
        {
            var id = await db.StringIncrementAsync(_keys.NodeCounter).ConfigureAwait(false);
            if (id > TcpCluster.MaxNodeId)
            {
                SetConnected(false, $"the node id counter {_keys.NodeCounter} passed {TcpCluster.MaxNodeId}: reset it while no node runs", null);
                return;
            }

            var claimedAt = await ClaimAsync(db, id, 0).ConfigureAwait(false);
            if (claimedAt < 0)
            {
                continue; // an older node life holds it: it lived through a restart of Redis and claimed it back
            }

            // Listen before anyone can learn this id from presence.
            foreach (var channel in new[] { _keys.AllChannel, _keys.NodeChannel(id) })
            {
                var queue = await subscriber.SubscribeAsync(channel).ConfigureAwait(false);
                queue.OnMessage(Receive); // one message at a time, in the order published
                _nodeQueues.Add(queue);
            }

            _claimedAt = claimedAt;
            Interlocked.Exchange(ref _nodeId, id);
            return;
        }

        SetConnected(false, $"the {JoinAttempts} node ids drawn from {_keys.NodeCounter} were all held by other nodes", null);
    }

    /// <summary>Claims (or renews) <paramref name="id"/> for this node life: when it dates from, or -1 when an older life holds it.</summary>
    private async Task<long> ClaimAsync(IDatabase db, long id, long claimedAt) =>
        (long)await db.ScriptEvaluateAsync(
            ClaimScript,
            [_keys.Claim(id), _keys.NodeCounter],
            [_lifeToken, claimedAt, (long)_options.PresenceExpiry.TotalMilliseconds, id]).ConfigureAwait(false);

    /// <summary>
    /// An older node life claimed this node's id back (Redis restarted and forgot the counter while that node was
    /// away): stop listening as that id and take a new one at the next heartbeat. The server closes the clients whose
    /// ids carry the old one, since they now name the other node.
    /// </summary>
    private async Task GiveUpIdAsync()
    {
        var lost = NodeId;
        foreach (var queue in _nodeQueues)
        {
            await queue.UnsubscribeAsync().ConfigureAwait(false);
        }

        _nodeQueues.Clear();
        _claimedAt = 0;
        Interlocked.Exchange(ref _nodeId, 0);
        SetConnected(false, $"node id {lost} is held by an older node, which claimed it back after Redis lost the id counter: this node takes a new id", null);
    }

    private static string NewLifeToken() => Guid.NewGuid().ToString("N");

    private void Receive(ChannelMessage message)
    {
        ReadOnlyMemory<byte> envelope = message.Message;
        _receiver!.OnEnvelope(envelope.Span);
    }

    private async Task WritePresenceAsync(IDatabase? db = null)
    {
        var nodeId = NodeId;
        if (nodeId == 0 || _redis is not { IsConnected: true } redis)
        {
            return;
        }

        db ??= redis.GetDatabase();
        var presence = PresenceRecord.Write(_receiver!.GetPresence());
        try
        {
            await Task.WhenAll(
                db.StringSetAsync(_keys.Presence(nodeId), presence, _options.PresenceExpiry),
                db.SetAddAsync(_keys.Nodes, nodeId)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // A refresh between heartbeats: the next heartbeat retries and reports.
        }
    }

    private async Task ReadPresenceAsync(IDatabase db)
    {
        var members = await db.SetMembersAsync(_keys.Nodes).ConfigureAwait(false);
        var ids = members.Select(member => (long)member).ToArray();
        var values = await db.StringGetAsync([.. ids.Select(_keys.Presence)]).ConfigureAwait(false);
        var nodes = new List<ClusterNode>(ids.Length);
        var gone = new List<RedisValue>();
        for (var i = 0; i < ids.Length; i++)
        {
            if (PresenceRecord.Read(ids[i], values[i]) is { } node)
            {
                nodes.Add(node);
            }
            else
            {
                gone.Add(ids[i]);
            }
        }

        if (gone.Count > 0)
        {
            await db.SetRemoveAsync(_keys.Nodes, [.. gone]).ConfigureAwait(false);
        }

        nodes.Sort((a, b) => a.NodeId.CompareTo(b.NodeId));
        _nodes = nodes;
        _alive = [.. nodes.Select(node => node.NodeId)];
        if (nodes.Count > 0)
        {
            Interlocked.Exchange(ref _newestSeen, Math.Max(Interlocked.Read(ref _newestSeen), nodes[^1].NodeId));
        }
    }

    /// <summary>Listens to the groups that have local members and to no others; one run at a time.</summary>
    private async Task ReconcileGroupsAsync()
    {
        if (_redis is not { IsConnected: true } redis || NodeId == 0)
        {
            return;
        }

        await _reconcile.WaitAsync().ConfigureAwait(false);
        try
        {
            var subscriber = redis.GetSubscriber();
            foreach (var group in _wantedGroups.Keys)
            {
                if (!_groupQueues.ContainsKey(group))
                {
                    var queue = await subscriber.SubscribeAsync(_keys.GroupChannel(group)).ConfigureAwait(false);
                    queue.OnMessage(Receive);
                    _groupQueues[group] = queue;
                }
            }

            foreach (var (group, queue) in _groupQueues)
            {
                if (!_wantedGroups.ContainsKey(group) && _groupQueues.TryRemove(group, out _))
                {
                    await queue.UnsubscribeAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Retried at the next heartbeat.
        }
        finally
        {
            _reconcile.Release();
        }
    }

    /// <summary>Records the state and tells the receiver of each change, and of the first state (a node started with Redis away says so).</summary>
    private void SetConnected(bool connected, string detail, Exception? error)
    {
        _connected = connected;
        if (!connected)
        {
            _alive = [];
            _nodes = [];
        }

        if (Interlocked.Exchange(ref _reported, connected ? 1 : 0) != (connected ? 1 : 0))
        {
            _receiver?.OnConnectionChanged(connected, detail, error);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e) =>
        SetConnected(false, string.Create(CultureInfo.InvariantCulture, $"{e.ConnectionType} connection to {e.EndPoint} failed: {e.FailureType}"), e.Exception);

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _ = ObserveAsync(BeatAsync());

    /// <summary>
    /// Observes work nobody awaits, so it never faults unobserved (a group change, a presence refresh, a beat on reconnect). Redis failures there are
    /// the heartbeat's to report, and a stop may dispose the connection under it; anything else marks the backplane
    /// down with the exception, so it reaches the server's log and OnError rather than vanishing.
    /// </summary>
    private async Task ObserveAsync(Task work)
    {
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            // Reported by the next heartbeat, or the backplane is stopping.
        }
        catch (Exception ex)
        {
            SetConnected(false, $"background work failed: {ex.Message}", ex);
        }
    }
}
