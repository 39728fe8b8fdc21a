using StackExchange.Redis;

namespace CbuffTcp.Redis;

/// <summary>The channels and keys of one application (prefix) on one Redis.</summary>
internal sealed class RedisKeys(string prefix)
{
    /// <summary>Every node listens here: broadcasts.</summary>
    public RedisChannel AllChannel { get; } = RedisChannel.Literal($"{prefix}:all");

    /// <summary>INCR gives each node life its id.</summary>
    public RedisKey NodeCounter { get; } = $"{prefix}:node-id";

    /// <summary>When these keys began on this Redis (its clock, in milliseconds): a Redis restarted empty has a new one.</summary>
    public RedisKey Epoch { get; } = $"{prefix}:epoch";

    /// <summary>The set of node ids that have announced themselves (pruned of those whose presence key expired).</summary>
    public RedisKey Nodes { get; } = $"{prefix}:nodes";

    /// <summary>A node's own channel: sends, closes and answers for its clients.</summary>
    public RedisChannel NodeChannel(long nodeId) => RedisChannel.Literal($"{prefix}:node:{nodeId}");

    /// <summary>The channel of a group: only nodes with members listen.</summary>
    public RedisChannel GroupChannel(string group) => RedisChannel.Literal($"{prefix}:group:{group}");

    /// <summary>Which node life holds an id, and since when (Redis's clock), with an expiry its heartbeat renews.</summary>
    public RedisKey Claim(long nodeId) => $"{prefix}:claim:{nodeId}";

    /// <summary>A node's presence, with an expiry its heartbeat renews.</summary>
    public RedisKey Presence(long nodeId) => $"{prefix}:presence:{nodeId}";
}
