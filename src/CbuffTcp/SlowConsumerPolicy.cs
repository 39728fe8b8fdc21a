namespace CbuffTcp;

/// <summary>What a send does when the client's send queue is full.</summary>
public enum SlowConsumerPolicy
{
    /// <summary>Return <see cref="SendResult.QueueFull"/> to the caller and keep the client (the seed's <em>busy</em>).</summary>
    RejectSend = 0,

    /// <summary>
    /// Return <see cref="SendResult.QueueFull"/> and close the client with <see cref="DisconnectReason.SlowConsumer"/>,
    /// after what was already queued is flushed (or the flush times out).
    /// </summary>
    Disconnect = 1,
}
