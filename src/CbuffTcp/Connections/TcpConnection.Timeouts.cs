using CbuffTcp.Connections;
namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    // Timestamps from the settings' TimeProvider. Written by the receive loop, read by the heartbeat.
    private long _lastReceived;
    private long _frameStarted;
    private long _receivedBytes;
    private volatile bool _awaitingData;

    /// <summary>True while the receive loop waits on the peer (the only time the timeout clocks run).</summary>
    internal bool IsAwaitingData => _awaitingData;

    /// <summary>Bytes received from the peer so far.</summary>
    internal long ReceivedBytes => Interlocked.Read(ref _receivedBytes);

    /// <summary>
    /// Called by the heartbeat: refills the receive rate limits, and closes the connection if it has been idle, or
    /// mid-frame, for too long.
    /// </summary>
    internal void OnHeartbeat(long now)
    {
        Throttle?.Refill();
        // Both clocks run only while the receive loop waits on the peer: when reading is paused because the
        // handler is behind, the peer is not at fault.
        if (IsClosing || !_awaitingData)
        {
            return;
        }

        var time = _settings.TimeProvider;
        var frameStarted = Interlocked.Read(ref _frameStarted);
        if (frameStarted != 0 && _settings.FrameTimeout != Timeout.InfiniteTimeSpan && time.GetElapsedTime(frameStarted, now) > _settings.FrameTimeout)
        {
            BeginClose(DisconnectReason.FrameTimeout, $"a frame started {time.GetElapsedTime(frameStarted, now).TotalSeconds:0.###} s ago and is still incomplete (limit {_settings.FrameTimeout.TotalSeconds:0.###} s)");
            return;
        }

        if (frameStarted == 0 && _settings.IdleTimeout != Timeout.InfiniteTimeSpan && time.GetElapsedTime(Interlocked.Read(ref _lastReceived), now) > _settings.IdleTimeout)
        {
            BeginClose(DisconnectReason.IdleTimeout, $"nothing received for {_settings.IdleTimeout.TotalSeconds:0.###} s");
        }
    }

    private void NoteReceived(int bytes)
    {
        Interlocked.Add(ref _receivedBytes, bytes);
        Interlocked.Exchange(ref _lastReceived, _settings.TimeProvider.GetTimestamp());
    }

    /// <summary>
    /// After a decode pass: a partial frame left over starts the frame clock, unless the same partial frame was
    /// already being timed (a trickle does not restart it); no leftover stops it.
    /// </summary>
    private void NoteLeftover(bool consumedAny, long leftoverBytes)
    {
        if (leftoverBytes == 0)
        {
            Interlocked.Exchange(ref _frameStarted, 0);
        }
        else if (consumedAny || Interlocked.Read(ref _frameStarted) == 0)
        {
            Interlocked.Exchange(ref _frameStarted, _settings.TimeProvider.GetTimestamp());
        }
    }
}
