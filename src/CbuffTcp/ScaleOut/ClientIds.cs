namespace CbuffTcp.ScaleOut;

/// <summary>
/// A client id is the node's id in its upper bits and the node's own counter below: routing reads the owner from the
/// id itself. 20 bits of node (a million node lives) and 43 of counter (8.8 trillion connects per life); the sign bit
/// stays clear, and a node with no cluster id (0) gives out the plain counter, as a server without a backplane does.
/// </summary>
internal static class ClientIds
{
    public const int CounterBits = 43;
    public const long MaxNodeId = (1L << 20) - 1;

    public static long Compose(long nodeId, long counter) => (nodeId << CounterBits) | counter;

    public static long NodeOf(long clientId) => clientId >>> CounterBits;
}
