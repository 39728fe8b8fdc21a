using System.Net.Security;
using System.Net.Sockets;

namespace CbuffTcp.Connections;

/// <summary>Runs the TLS handshake on a connected socket, bounded by a timeout on the configured clock.</summary>
internal static class TlsHandshake
{
    public static Task<ConnectionTransport> AsServerAsync(Socket socket, SslServerAuthenticationOptions options, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(socket, timeout, time, (ssl, token) => ssl.AuthenticateAsServerAsync(options, token), cancellationToken);

    public static Task<ConnectionTransport> AsClientAsync(Socket socket, SslClientAuthenticationOptions options, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(socket, timeout, time, (ssl, token) => ssl.AuthenticateAsClientAsync(options, token), cancellationToken);

    /// <summary>A copy of <paramref name="options"/> that names <paramref name="host"/> as the server to validate.</summary>
    public static SslClientAuthenticationOptions WithTargetHost(SslClientAuthenticationOptions options, string host) => new()
    {
        TargetHost = host,
        AllowRenegotiation = options.AllowRenegotiation,
        AllowTlsResume = options.AllowTlsResume,
        ApplicationProtocols = options.ApplicationProtocols,
        CertificateChainPolicy = options.CertificateChainPolicy,
        CertificateRevocationCheckMode = options.CertificateRevocationCheckMode,
        CipherSuitesPolicy = options.CipherSuitesPolicy,
        ClientCertificateContext = options.ClientCertificateContext,
        ClientCertificates = options.ClientCertificates,
        EnabledSslProtocols = options.EnabledSslProtocols,
        EncryptionPolicy = options.EncryptionPolicy,
        LocalCertificateSelectionCallback = options.LocalCertificateSelectionCallback,
        RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback,
    };

    private static async Task<ConnectionTransport> RunAsync(
        Socket socket, TimeSpan timeout, TimeProvider time, Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        try
        {
            await authenticate(ssl, linked.Token).ConfigureAwait(false);
            return new StreamTransport(socket, ssl);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"TLS handshake did not complete within {timeout.TotalSeconds:0.###} s.");
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
