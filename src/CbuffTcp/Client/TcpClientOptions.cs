using System.Net.Security;

namespace CbuffTcp;

/// <summary>Settings of a <see cref="TcpClient{TMessage}"/>.</summary>
public sealed class TcpClientOptions : TcpConnectionOptions
{
    /// <summary>How long <c>ConnectAsync</c> may take before it fails with a <see cref="TimeoutException"/>. Defaults to 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When set, the connection speaks TLS: <c>ConnectAsync</c> completes the handshake before it returns.
    /// <see cref="SslClientAuthenticationOptions.TargetHost"/> names the server to validate (defaults to the host
    /// connected to). Defaults to null (plain TCP).
    /// </summary>
    public SslClientAuthenticationOptions? Tls { get; set; }

    /// <summary>How long the TLS handshake may take. Defaults to 10 seconds.</summary>
    public TimeSpan TlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When set, a lost connection is connected again, with backoff, and messages sent meanwhile wait in a bounded
    /// outbox (see <see cref="ReconnectOptions"/>). Defaults to null: a lost connection stays lost.
    /// </summary>
    public ReconnectOptions? Reconnect { get; set; }

    internal override void Validate()
    {
        base.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TlsHandshakeTimeout, TimeSpan.Zero, nameof(TlsHandshakeTimeout));
        Reconnect?.Validate();
    }
}
