using System.Net;

namespace CbuffTcp;

/// <summary>
/// The PROXY protocol (v1 and v2, as HAProxy, AWS NLB and nginx <c>stream</c> send it) on a server's listener
/// (<see cref="TcpServerOptions.ProxyProtocol"/>): a trusted load balancer's header names the real client, and
/// <see cref="TcpConnection{TMessage}.RemoteEndPoint"/>, per-IP limits, logs and <c>OnConnectedAsync</c> see that
/// client rather than the balancer.
/// </summary>
/// <remarks>
/// A header from a peer outside <see cref="TrustedProxies"/> closes the connection: anyone could claim any address.
/// Without <see cref="Required"/>, peers that send no header are served as themselves (clients that bypass the
/// balancer, its health checks); with it, they are refused too. The header is read before <c>OnConnectedAsync</c>,
/// within <see cref="HeaderTimeout"/>; bytes after it are the connection's first data.
/// </remarks>
public sealed class ProxyProtocolOptions
{
    /// <summary>The load balancers whose headers are believed: addresses or networks, as <c>10.0.0.0/8</c> or <c>127.0.0.1/32</c>.</summary>
    public IList<IPNetwork> TrustedProxies { get; } = [];

    /// <summary>When true, every connection must start with a header from a trusted proxy; others are refused. Defaults to false.</summary>
    public bool Required { get; set; }

    /// <summary>How long a connection may take to send its whole header (or its first bytes, to show it has none). Defaults to 5 seconds.</summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Adds a trusted proxy: an address (<c>10.0.0.5</c>) or a network in CIDR notation (<c>10.0.0.0/8</c>).</summary>
    /// <exception cref="FormatException">Neither an address nor a CIDR network.</exception>
    public ProxyProtocolOptions Trust(string addressOrNetwork)
    {
        ArgumentException.ThrowIfNullOrEmpty(addressOrNetwork);
        TrustedProxies.Add(addressOrNetwork.Contains('/', StringComparison.Ordinal)
            ? IPNetwork.Parse(addressOrNetwork)
            : new IPNetwork(IPAddress.Parse(addressOrNetwork), IPAddress.Parse(addressOrNetwork).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
        return this;
    }

    /// <summary>True when <paramref name="address"/> is one of <see cref="TrustedProxies"/> (an IPv4-mapped IPv6 address counts as its IPv4 address).</summary>
    internal bool Trusts(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in TrustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    internal void Validate()
    {
        if (TrustedProxies.Count == 0)
        {
            throw new ArgumentException("ProxyProtocol needs at least one trusted proxy (TrustedProxies, or Trust(\"10.0.0.0/8\")): a header from anyone else is refused.", nameof(TrustedProxies));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HeaderTimeout, TimeSpan.Zero, nameof(HeaderTimeout));
    }
}
