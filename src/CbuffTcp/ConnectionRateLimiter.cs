using System.Net;
using System.Threading.RateLimiting;

namespace CbuffTcp;

/// <summary>
/// New connections per second per IP address (<see cref="TcpServerOptions.ConnectionRatePerIp"/>): a token bucket per
/// address from System.Threading.RateLimiting, as many tokens as the rate, refilled every second, nothing queued. An
/// address that has been quiet a while loses its bucket (the partitioned limiter drops idle ones).
/// </summary>
internal sealed class ConnectionRateLimiter(int perSecond) : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _limiter = PartitionedRateLimiter.Create<IPAddress, IPAddress>(
        address => RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>True when <paramref name="address"/> may open one more connection now (no address: a Unix socket's peer, never limited).</summary>
    public bool TryAcquire(IPAddress? address)
    {
        if (address is null)
        {
            return true;
        }

        using var lease = _limiter.AttemptAcquire(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
        return lease.IsAcquired;
    }

    public void Dispose() => _limiter.Dispose();
}
