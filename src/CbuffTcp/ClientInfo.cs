using System.Net;

namespace CbuffTcp;

/// <summary>
/// One connected peer, as the handler sees it. The same instance is passed to every callback of that connection,
/// so it can be used as a key for per-client state.
/// </summary>
public sealed class ClientInfo
{
    internal ClientInfo(long id, EndPoint? remoteEndPoint, EndPoint? localEndPoint)
    {
        Id = id;
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = localEndPoint;
        RemoteAddress = (remoteEndPoint as IPEndPoint)?.Address is { } address
            ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString()
            : remoteEndPoint?.ToString() ?? string.Empty;
        ConnectedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The client id: unique for the lifetime of the server (or client connector) that assigned it, never reused.</summary>
    public long Id { get; }

    /// <summary>The peer's address and port (the seed's <c>clientAddr</c>).</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The peer's IP address as text, IPv4-mapped addresses shown as IPv4 (the seed's <c>clientIP</c>).</summary>
    public string RemoteAddress { get; }

    /// <summary>The local address and port of this connection.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>When the connection was accepted or established.</summary>
    public DateTimeOffset ConnectedAt { get; }

    /// <inheritdoc />
    public override string ToString() => $"#{Id} {RemoteEndPoint}";
}
