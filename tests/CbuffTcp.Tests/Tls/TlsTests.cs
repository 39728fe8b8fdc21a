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
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler, TrustingTestCertificate());

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
    public async Task A_tls_connection_runs_its_handler_where_a_plain_one_would_on_an_io_thread_or_the_thread_pool()
    {
        var handler = new ThreadRecordingHandler();
        var options = new TcpServerOptions().UseTls(TestCertificates.Localhost);
        await using var fixture = await ServerFixture<ThreadRecordingHandler>.StartAsync(handler, options, new LineProtocol());
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), TrustingTestCertificate());
        await client.ConnectAsync("localhost", fixture.EndPoint.Port);
        for (var i = 0; i < 20; i++)
        {
            client.Send(Encoding.UTF8.GetBytes($"where {i}"));
        }

        await handler.WaitUntilAsync(_ => handler.Messages == 20, what: "20 messages over TLS, each call's thread recorded");
        if (fixture.Server.IoModeInUse == IoMode.IoThreads)
        {
            // The handshake, the reads and their decryption on the socket's I/O thread: no hand-off to the pool.
            Assert.All(handler.Threads, t => Assert.StartsWith("CbuffTcp I/O ", t.Name, StringComparison.Ordinal));
        }
        else
        {
            Assert.All(handler.Threads, t => Assert.True(t.IsThreadPoolThread, $"{t.Name} is not a pool thread"));
        }
    }

    /// <summary>Records the thread of each OnReceivedAsync call.</summary>
    private sealed class ThreadRecordingHandler : RecordingHandler
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(string? Name, bool IsThreadPoolThread)> _threads = new();

        private int _messages;

        public IReadOnlyCollection<(string? Name, bool IsThreadPoolThread)> Threads => _threads;

        /// <summary>Messages of the calls recorded in <see cref="Threads"/>.</summary>
        public int Messages => Volatile.Read(ref _messages);

        protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            _threads.Enqueue((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
            Interlocked.Add(ref _messages, messages.Count); // after the thread: a waiter that sees the count sees it
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task A_handshake_that_completes_while_the_server_stops_is_closed_by_the_stop_not_left_to_its_timeout()
    {
        var serverHandler = new EchoHandler();
        var options = new TcpServerOptions { GracefulStopTimeout = TimeSpan.FromSeconds(60) }.UseTls(TestCertificates.Localhost);
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(serverHandler, options, new LineProtocol());
        var handshakeDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Server.AfterTlsHandshake = async () =>
        {
            handshakeDone.TrySetResult();
            await release.Task; // held until the stop has taken its snapshot of the clients
        };
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), TrustingTestCertificate());
        await client.ConnectAsync("localhost", fixture.EndPoint.Port);
        await handshakeDone.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = fixture.Server.StopAsync();
        for (var i = 0; i < 1000 && !fixture.Server.IsStopping; i++)
        {
            await Task.Delay(10);
        }

        Assert.True(fixture.Server.IsStopping);
        release.SetResult(); // the client joins after the snapshot
        await stopping.WaitAsync(TimeSpan.FromSeconds(20)); // far less than the 60 s graceful timeout it would hold

        var disconnected = await serverHandler.WaitForAsync("disconnected");
        Assert.Equal(new DisconnectInfo(DisconnectReason.ServerStopping, "server stopping"), disconnected.Reason);
    }

    [Fact]
    public async Task A_server_that_requires_client_certificates_serves_a_client_with_the_right_one_and_refuses_one_without()
    {
        var handler = new EchoHandler();
        var options = new TcpServerOptions().UseTls(TestCertificates.Localhost);
        options.Tls!.ClientCertificateRequired = true;
        options.Tls.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == TestCertificates.Client.GetCertHashString();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(handler, options, new LineProtocol());

        var withCertificate = TrustingTestCertificate();
        withCertificate.Tls!.ClientCertificates = [TestCertificates.Client];
        var clientHandler = new RecordingHandler();
        await using (var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler, withCertificate))
        {
            await client.ConnectAsync("localhost", fixture.EndPoint.Port);
            client.Send("known client"u8.ToArray());
            Assert.Equal("known client"u8.ToArray(), Assert.Single((await clientHandler.WaitForAsync("received")).Messages));
        }

        // Without a certificate: the server refuses the handshake; the handler never hears of that client.
        var anonymous = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), TrustingTestCertificate());
        try
        {
            await anonymous.ConnectAsync("localhost", fixture.EndPoint.Port);
            anonymous.Send("let me in"u8.ToArray()); // TLS 1.3: the client may finish before the server has judged it
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or System.Net.Sockets.SocketException)
        {
        }

        await handler.WaitUntilAsync(_ => fixture.Server.TlsHandshakeFailures == 1, what: "the anonymous handshake refused");
        Assert.Single(handler.Events, e => e.Kind == "connected");
        Assert.DoesNotContain(handler.Events, e => e.Kind == "received" && e.Messages.Any(m => m.SequenceEqual("let me in"u8.ToArray())));
        await anonymous.DisposeAsync();
    }

    [Fact]
    public async Task Without_a_target_host_the_client_validates_the_host_it_connects_to_and_leaves_its_options_alone()
    {
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler(), new TcpServerOptions().UseTls(TestCertificates.Localhost), new LineProtocol());
        string? validatedFor = null;
        var options = new TcpClientOptions
        {
            Tls = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, certificate, _, _) =>
                {
                    validatedFor = ((SslStream)sender).TargetHostName;
                    return certificate?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString();
                },
            },
        };
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), options);
        await client.ConnectAsync("localhost", fixture.EndPoint.Port);
        Assert.Equal("localhost", validatedFor);
        Assert.True(string.IsNullOrEmpty(options.Tls.TargetHost), "the caller's options were changed");
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_certificate_fails_to_connect()
    {
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(new RecordingHandler(), new TcpServerOptions().UseTls(TestCertificates.Localhost));
        var options = new TcpClientOptions { Tls = new SslClientAuthenticationOptions { TargetHost = "localhost" } };
        var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler(), options);
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
        await handler.WaitUntilAsync(_ => fixture.Server.TlsHandshakesStarted == 1, what: "the handshake's deadline started");
        time.Advance(TimeSpan.FromSeconds(9.5));
        Assert.False(await silent.WaitForCloseAsync(TimeSpan.FromMilliseconds(200)), "closed before the timeout");

        time.Advance(TimeSpan.FromSeconds(1)); // 10.5 s: past it
        Assert.True(await silent.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
        var error = await handler.WaitForAsync("error");
        Assert.Contains("did not complete within 10 s", error.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Events, e => e.Kind == "connected");
    }
}
