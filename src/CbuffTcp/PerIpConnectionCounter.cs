using System.Collections.Concurrent;
using System.Net;

namespace CbuffTcp;

/// <summary>
/// Counts live connections per remote IP address, lock-free, and refuses one past the limit. Connections with no IP
/// address (Unix domain sockets, in-memory) have no key: the per-IP limit does not apply to them.
/// </summary>
internal sealed class PerIpConnectionCounter(int limit)
{
    private readonly ConcurrentDictionary<IPAddress, int> _counts = new();

    public static IPAddress? KeyOf(EndPoint? endPoint) => endPoint is IPEndPoint { Address: var address }
        ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address)
        : null;

    public bool TryAcquire(IPAddress? address)
    {
        while (address is not null)
        {
            if (_counts.TryGetValue(address, out var count))
            {
                if (count >= limit)
                {
                    return false;
                }

                if (_counts.TryUpdate(address, count + 1, count))
                {
                    return true;
                }
            }
            else if (_counts.TryAdd(address, 1))
            {
                return true;
            }
        }

        return true;
    }

    public void Release(IPAddress? address)
    {
        while (address is not null && _counts.TryGetValue(address, out var count))
        {
            if (count <= 1 ? _counts.TryRemove(new KeyValuePair<IPAddress, int>(address, count)) : _counts.TryUpdate(address, count - 1, count))
            {
                return;
            }
        }
    }

    public int CountOf(IPAddress address) => _counts.GetValueOrDefault(address);
}
