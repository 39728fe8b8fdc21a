namespace CbuffTcp.ScaleOut;

/// <summary>What a backplane calls back into: the server it serves.</summary>
public interface IBackplaneReceiver
{
    /// <summary>
    /// An envelope arrived. Calls for one channel come one at a time, in the order published; the span is valid only
    /// during the call.
    /// </summary>
    void OnEnvelope(ReadOnlySpan<byte> envelope);

    /// <summary>The backplane connected (with its node id) or lost its connection; <paramref name="exception"/> says why, where known.</summary>
    void OnConnectionChanged(bool connected, string detail, Exception? exception);

    /// <summary>What this node publishes about itself at each heartbeat.</summary>
    NodePresence GetPresence();
}
