using System.ComponentModel.DataAnnotations;

namespace CbuffTcp.Redis;

/// <summary>Settings of a <see cref="RedisBackplane"/>. Validated when the server starts it.</summary>
public sealed class RedisBackplaneOptions
{
    /// <summary>
    /// The StackExchange.Redis configuration string: <c>host:port</c>, several of them comma-separated, and options
    /// such as <c>password=…</c> or <c>ssl=true</c>. Defaults to <c>127.0.0.1:6379</c>.
    /// </summary>
    [Required]
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>
    /// The prefix of every channel and key this backplane uses, so applications can share one Redis: the nodes of one
    /// logical server use the same prefix. Defaults to <c>cbufftcp</c>.
    /// </summary>
    [Required]
    public string ChannelPrefix { get; set; } = "cbufftcp";

    /// <summary>How often a node writes its presence and reads the others'. Defaults to 1 second.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a node's presence outlives its last heartbeat: a node killed without a stop drops out of every node's
    /// view within this time plus a heartbeat, and sends to its clients then return NotFound at once. Defaults to
    /// 5 seconds; at least twice <see cref="HeartbeatInterval"/>.
    /// </summary>
    public TimeSpan PresenceExpiry { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Configuration, nameof(Configuration));
        ArgumentException.ThrowIfNullOrWhiteSpace(ChannelPrefix, nameof(ChannelPrefix));
        ArgumentOutOfRangeException.ThrowIfLessThan(HeartbeatInterval, TimeSpan.FromMilliseconds(50), nameof(HeartbeatInterval));
        if (PresenceExpiry < 2 * HeartbeatInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(PresenceExpiry), PresenceExpiry, $"PresenceExpiry must be at least twice HeartbeatInterval ({HeartbeatInterval}).");
        }
    }
}
