namespace CbuffTcp;

/// <summary>What a send does when the client's send queue is full.</summary>
public enum SlowConsumerPolicy
{
    /// <summary>Return <see cref="SendResult.QueueFull"/> to the caller and keep the client (the seed's <em>busy</em>).</summary>
    RejectSend = 0,

    /// <summary>
    /// Return <see cref="SendResult.QueueFull"/> and close the client at once with
    /// <see cref="DisconnectReason.SlowConsumer"/>: a reset, dropping what is queued (a client that cannot keep up
    /// cannot take a flush either, and its queue's memory is freed at once).
    /// </summary>
    Disconnect = 1,
}
