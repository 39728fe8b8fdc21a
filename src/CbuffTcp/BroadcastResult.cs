namespace CbuffTcp;

/// <summary>
/// The outcome of a broadcast or group send: how many of this node's clients got the messages queued, how many did
/// not, and, with a backplane, whether the other nodes were sent them.
/// </summary>
/// <param name="Queued">Local clients whose send queue accepted the messages.</param>
/// <param name="Rejected">Local clients that were closing or whose queue was full.</param>
public readonly record struct BroadcastResult(int Queued, int Rejected)
{
    /// <summary>Whether the messages were published for the other nodes' clients (<see cref="ClusterDelivery.None"/> without a backplane).</summary>
    public ClusterDelivery Cluster { get; init; }
}
