using System.Buffers;
using System.Net.Security;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace CbuffTcp.Tests.Tls;

public class TlsTests
{
    private static TcpClientOptions TrustingTestCertificate() => new()
    {
        Tls = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString(),
        },
    };

    [Fact]
    public async Task Server_and_client_talk_over_tls_with_the_same_protocol_and_handler()
    {
        var serverHandler = new EchoHandler();
        var options = new TcpServerOptions().UseTls(TestCertificates.Localhost);
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(serverHandler, options, new LineProtocol());
        var clientHandler = new RecordingHandler();
        await using var client = new TcpClientConnection<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler, TrustingTestCertificate());

        await client.ConnectAsync("localhost", fixture.EndPoint.Port);
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(SendResult.Queued, client.Send(Encoding.UTF8.GetBytes($"secret {i}")));
        }

        await clientHandler.WaitUntilAsync(_ => clientHandler.ReceivedBy(1).Count() == 200, what: "200 echoes over TLS");
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"secret {i}"), clientHandler.ReceivedBy(1).Select(m => Encoding.UTF8.GetString(m)));
        await client.CloseAsync();
        Assert.Equal(DisconnectReason.RemoteClosed, (await serverHandler.WaitForAsync("disconnected")).Reason!.Value.Reason);
        Assert.Equal(0, fixture.Server.TlsHandshakeFailures);
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_certificate_fails_to_connect()
    {
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(new RecordingHandler(), new TcpServerOptions().UseTls(TestCertificates.Localhost));
        var options = new TcpClientOptions { Tls = new SslClientAuthenticationOptions { TargetHost = "localhost" } };
        var client = new TcpClientConnection<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), options);
        await Assert.ThrowsAsync<System.Security.Authentication.AuthenticationException>(() => client.ConnectAsync("localhost", fixture.EndPoint.Port));
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task Plaintext_clients_are_closed_promptly_never_reach_the_handler_and_are_reported_once()
    {
        var handler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, new TcpServerOptions().UseTls(TestCertificates.Localhost));
        for (var i = 0; i < 5; i++)
        {
            using var plain = await fixture.ConnectAsync();
            await plain.SendAsync("hello, is this thing on?\n"u8.ToArray());
            Assert.True(await plain.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
        }

        await handler.WaitUntilAsync(_ => fixture.Server.TlsHandshakeFailures == 5, what: "5 handshake failures");
        var error = Assert.Single(handler.Events, e => e.Kind == "error");
        Assert.Contains("TLS handshake with", error.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Events, e => e.Kind is "connected" or "received" or "disconnected");
        Assert.Equal(0, fixture.Server.ClientCount);
    }

    [Fact]
    public async Task A_client_that_never_starts_the_handshake_is_closed_by_the_handshake_timeout()
    {
        var time = new FakeTimeProvider();
        var handler = new RecordingHandler();
        var options = new TcpServerOptions { TlsHandshakeTimeout = TimeSpan.FromSeconds(10), TimeProvider = time }.UseTls(TestCertificates.Localhost);
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(handler, options);
        using var silent = await fixture.ConnectAsync();
        Assert.False(await silent.WaitForCloseAsync(TimeSpan.FromMilliseconds(200)));

        time.Advance(TimeSpan.FromSeconds(11));
        Assert.True(await silent.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
        var error = await handler.WaitForAsync("error");
        Assert.Contains("did not complete within 10 s", error.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Events, e => e.Kind == "connected");
    }
}
