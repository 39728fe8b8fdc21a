namespace CbuffTcp.Connections;

/// <summary>
/// Writes a <see cref="SendQueue"/> out: the queue starts a write pass when bytes arrive and no pass is running, and
/// a pass runs until the queue is empty. Between passes a connection holds no waiting writer at all (an idle one
/// costs nothing for its write side).
/// </summary>
internal interface IQueueWriter
{
    /// <summary>Writes everything queued, on this thread, until the queue is empty (then the queue starts the next pass).</summary>
    void RunWritePass();
}
