using System.Net;
using System.Text;

namespace CbuffTcp;

/// <summary>
/// What a trusted proxy said about a connection in its PROXY protocol header (<see cref="TcpConnection{TMessage}.ProxyHeader"/>).
/// </summary>
public sealed class ProxyHeader
{
    internal ProxyHeader(int version, bool isLocal, EndPoint? source, EndPoint? destination, IReadOnlyList<ProxyTlv> tlvs)
    {
        Version = version;
        IsLocal = isLocal;
        SourceEndPoint = source;
        DestinationEndPoint = destination;
        Tlvs = tlvs;
    }

    /// <summary>1 (the text header) or 2 (the binary one).</summary>
    public int Version { get; }

    /// <summary>
    /// True for a v2 <c>LOCAL</c> command (the proxy's own connection, a health check say) and a v1 <c>UNKNOWN</c>:
    /// no client is named, and the connection keeps the proxy's address.
    /// </summary>
    public bool IsLocal { get; }

    /// <summary>The client as the proxy saw it; null when <see cref="IsLocal"/> or the address family is not IP.</summary>
    public EndPoint? SourceEndPoint { get; }

    /// <summary>The address the client connected to on the proxy; null as <see cref="SourceEndPoint"/>.</summary>
    public EndPoint? DestinationEndPoint { get; }

    /// <summary>The v2 header's type-length-value fields, in order (empty for v1).</summary>
    public IReadOnlyList<ProxyTlv> Tlvs { get; }

    /// <summary>The host name the client asked for (TLS SNI, or the HTTP host), from the <c>PP2_TYPE_AUTHORITY</c> field.</summary>
    public string? Authority => Text(ProxyTlv.Authority);

    /// <summary>The application protocol negotiated (TLS ALPN), from <c>PP2_TYPE_ALPN</c>.</summary>
    public string? Alpn => Text(ProxyTlv.Alpn);

    /// <summary>The proxy's unique id for the connection, from <c>PP2_TYPE_UNIQUE_ID</c>.</summary>
    public ReadOnlyMemory<byte>? UniqueId => Find(ProxyTlv.UniqueId)?.Value;

    /// <summary>What the proxy knows of the client's TLS (it terminated it), from <c>PP2_TYPE_SSL</c>; null when absent.</summary>
    public ProxySslInfo? Ssl => Find(ProxyTlv.SslType) is { } ssl ? ProxySslInfo.Parse(ssl.Value.Span) : null;

    private ProxyTlv? Find(byte type)
    {
        foreach (var tlv in Tlvs)
        {
            if (tlv.Type == type)
            {
                return tlv;
            }
        }

        return null;
    }

    private string? Text(byte type) => Find(type) is { } tlv ? Encoding.UTF8.GetString(tlv.Value.Span) : null;
}

/// <summary>One type-length-value field of a PROXY protocol v2 header.</summary>
/// <param name="Type">The field's type (<c>PP2_TYPE_*</c>: 0x01 ALPN, 0x02 authority, 0x05 unique id, 0x20 SSL...).</param>
/// <param name="Value">Its bytes.</param>
public readonly record struct ProxyTlv(byte Type, ReadOnlyMemory<byte> Value)
{
    internal const byte Alpn = 0x01;
    internal const byte Authority = 0x02;
    internal const byte UniqueId = 0x05;
    internal const byte SslType = 0x20;
}

/// <summary>The client's TLS as a proxy that terminated it reports it (the PROXY v2 <c>PP2_TYPE_SSL</c> field).</summary>
/// <param name="ClientUsedSsl">The client connected over TLS (<c>PP2_CLIENT_SSL</c>).</param>
/// <param name="ClientSentCertificate">The client presented a certificate (<c>PP2_CLIENT_CERT_CONN</c> or <c>PP2_CLIENT_CERT_SESS</c>).</param>
/// <param name="CertificateVerified">The proxy verified the client's certificate (<c>verify</c> is 0).</param>
/// <param name="Version">The TLS version, as <c>TLSv1.3</c>; null when not sent.</param>
/// <param name="Cipher">The cipher, as <c>ECDHE-RSA-AES128-GCM-SHA256</c>; null when not sent.</param>
/// <param name="CommonName">The client certificate's common name; null when not sent.</param>
public sealed record ProxySslInfo(bool ClientUsedSsl, bool ClientSentCertificate, bool CertificateVerified, string? Version, string? Cipher, string? CommonName)
{
    internal static ProxySslInfo? Parse(ReadOnlySpan<byte> value)
    {
        if (value.Length < 5)
        {
            return null;
        }

        var client = value[0];
        var verify = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(value[1..]);
        string? version = null, cipher = null, commonName = null;
        var rest = value[5..];
        while (rest.Length >= 3)
        {
            var length = (rest[1] << 8) | rest[2];
            if (rest.Length < 3 + length)
            {
                break;
            }

            var text = Encoding.UTF8.GetString(rest.Slice(3, length));
            switch (rest[0])
            {
                case 0x21: version = text; break;
                case 0x22: commonName = text; break;
                case 0x23: cipher = text; break;
            }

            rest = rest[(3 + length)..];
        }

        return new ProxySslInfo((client & 0x01) != 0, (client & 0x06) != 0, verify == 0, version, cipher, commonName);
    }
}
