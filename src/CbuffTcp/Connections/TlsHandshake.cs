using System.Net.Security;
using System.Net.Sockets;
using CbuffTcp.Connections.IoThreads;

namespace CbuffTcp.Connections;

/// <summary>Runs the TLS handshake on a connected socket, bounded by a timeout on the configured clock.</summary>
internal static class TlsHandshake
{
    /// <summary>
    /// The server's side. With <paramref name="onIoThread"/>, the socket is an I/O thread's from the start: the handshake,
    /// and then every read and its decryption, run on that thread, as a plain connection's do.
    /// </summary>
    public static Task<ConnectionTransport> AsServerAsync(Socket socket, bool onIoThread, SslServerAuthenticationOptions options, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(socket, onIoThread, timeout, time, (ssl, token) => ssl.AuthenticateAsServerAsync(options, token), cancellationToken);

    public static Task<ConnectionTransport> AsClientAsync(Socket socket, SslClientAuthenticationOptions options, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(socket, onIoThread: false, timeout, time, (ssl, token) => ssl.AuthenticateAsClientAsync(options, token), cancellationToken);

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

    /// <summary>On failure the connection is reset (an RST) and the socket disposed, whichever stream it ran on.</summary>
    private static async Task<ConnectionTransport> RunAsync(
        Socket socket, bool onIoThread, TimeSpan timeout, TimeProvider time, Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken)
    {
        IoSocket? ioSocket;
        try
        {
            ioSocket = onIoThread ? new IoSocket(socket) : null; // takes the socket's descriptor: from here on, use it alone
        }
        catch
        {
            SocketClosing.Reset(socket);
            throw;
        }

        Stream inner = ioSocket is null ? new NetworkStream(socket, ownsSocket: false) : new IoSocketStream(ioSocket);
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var transport = ioSocket is null ? new StreamTransport(socket, ssl) : new StreamTransport(ioSocket, ssl);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);

        // A read waiting on an I/O thread does not watch the token: a reset ends it.
        using var resetOnCancel = ioSocket is null ? default : linked.Token.UnsafeRegister(static s => ((IoSocket)s!).Abort(), ioSocket);
        try
        {
            await authenticate(ssl, linked.Token).ConfigureAwait(false);
            return transport;
        }
        catch (Exception ex) when (deadline.IsCancellationRequested && (ex is OperationCanceledException || ioSocket is not null))
        {
            // On an I/O thread the reset surfaces as the read's error, not as a cancellation.
            transport.Abort();
            throw new TimeoutException($"TLS handshake did not complete within {timeout.TotalSeconds:0.###} s.");
        }
        catch
        {
            transport.Abort(); // an RST, and the stream and socket disposed
            throw;
        }
    }
}
