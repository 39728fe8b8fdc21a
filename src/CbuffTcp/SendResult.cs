namespace CbuffTcp;

/// <summary>
/// What happened to one message handed to a send method. Sends never throw on the hot path and never block:
/// the outcome is this value.
/// </summary>
public enum SendResult
{
    /// <summary>The message was packed and queued; the client's write loop will send it.</summary>
    Queued = 0,

    /// <summary>
    /// The client's send queue is at its byte or message limit (the seed's <em>busy</em>). Nothing was queued.
    /// With <see cref="SlowConsumerPolicy.Disconnect"/> the client is also being closed.
    /// </summary>
    QueueFull = 1,

    /// <summary>No connected client has that id (on this node, or its node is no longer alive).</summary>
    NotFound = 2,

    /// <summary>The client is closing or closed; it accepts no more messages.</summary>
    Closed = 3,

    /// <summary>The protocol's <c>Pack</c> threw; the error went to the handler's <c>OnError</c>. Nothing was queued.</summary>
    PackFailed = 4,

    /// <summary>
    /// The client belongs to another live node of the cluster: the packed message went to it through the backplane
    /// (at most once; the async variants return that node's own answer instead).
    /// </summary>
    Forwarded = 5,

    /// <summary>
    /// The client belongs to another node and the backplane is not connected now (or that node did not answer an
    /// async send in time): nothing was queued.
    /// </summary>
    BackplaneUnavailable = 6,
}
