namespace CbuffTcp.ScaleOut;

/// <summary>One live node of a cluster, as of its latest heartbeat.</summary>
/// <param name="NodeId">The node's id (the upper bits of its clients' ids).</param>
/// <param name="ClientCount">Clients connected to it.</param>
/// <param name="EndPoint">Where it listens, as it reported it.</param>
/// <param name="Metadata">What its application publishes about it (<see cref="TcpCluster.Metadata"/>).</param>
public sealed record ClusterNode(long NodeId, int ClientCount, string? EndPoint, string? Metadata);

/// <summary>What a node publishes about itself at each heartbeat.</summary>
/// <param name="ClientCount">Clients connected now.</param>
/// <param name="EndPoint">Where it listens.</param>
/// <param name="Metadata">The application's own words about this node (at most a few KiB).</param>
public readonly record struct NodePresence(int ClientCount, string? EndPoint, string? Metadata);
