namespace CbuffTcp.Connections;

/// <summary>
/// One timer for many connections (as Kestrel's heartbeat): each tick checks every connection's idle and frame
/// clocks and refills its receive rate limits. No timer per connection or per message, and none at all when no
/// timeout or rate limit is on.
/// </summary>
internal sealed class ConnectionHeartbeat<TMessage> : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Func<IEnumerable<TcpConnection<TMessage>>> _connections;
    private readonly ITimer _timer;

    private ConnectionHeartbeat(TimeProvider time, TimeSpan interval, Func<IEnumerable<TcpConnection<TMessage>>> connections)
    {
        _time = time;
        _connections = connections;
        _timer = time.CreateTimer(static state => ((ConnectionHeartbeat<TMessage>)state!).Tick(), this, interval, interval);
    }

    /// <summary>Starts a heartbeat when the settings have a timeout or a receive rate; null otherwise.</summary>
    public static ConnectionHeartbeat<TMessage>? StartIfNeeded(ConnectionSettings settings, Func<IEnumerable<TcpConnection<TMessage>>> connections) =>
        settings.NeedsHeartbeat ? new ConnectionHeartbeat<TMessage>(settings.TimeProvider, settings.HeartbeatInterval, connections) : null;

    public void Dispose() => _timer.Dispose();

    private void Tick()
    {
        var now = _time.GetTimestamp();
        foreach (var connection in _connections())
        {
            connection.OnHeartbeat(now);
        }
    }
}
