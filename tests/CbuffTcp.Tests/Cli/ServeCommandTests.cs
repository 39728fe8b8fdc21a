using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Cli;

/// <summary><c>cbuff serve</c> as a real process, driven over real sockets.</summary>
public partial class ServeCommandTests
{
    private const int MaxFrame = 256 * 1024;

    [Fact]
    public async Task Length_echo_is_byte_exact_and_in_order_up_to_max_frame_however_TCP_splits_it()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "length", "--mode", "echo", "--max-frame", MaxFrame.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        var random = new Random(7);
        var payloads = Enumerable.Range(0, 60).Select(i => RandomBytes(random, i switch { 0 => 0, 1 => 1, 2 => MaxFrame, 3 => MaxFrame - 1, _ => random.Next(0, 5000) })).ToList();
        var sending = client.SendSplitAsync([.. payloads.SelectMany(p => WireClient.LengthFrame(p))], random);
        foreach (var payload in payloads)
        {
            Assert.Equal(payload, await client.ReadLengthFrameAsync());
        }

        await sending;
    }

    [Fact]
    public async Task Line_echo_returns_each_line_ending_in_lf_and_accepts_crlf()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await client.SendSplitAsync(Encoding.UTF8.GetBytes("hello\r\nwörld\n\nlast\n"), new Random(3));
        Assert.Equal("hello", await client.ReadLineAsync());
        Assert.Equal("wörld", await client.ReadLineAsync());
        Assert.Equal("", await client.ReadLineAsync());
        Assert.Equal("last", await client.ReadLineAsync());
    }

    [Fact]
    public async Task Broadcast_reaches_every_client_sender_included_unchanged_and_in_order()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "length", "--mode", "broadcast", "--max-frame", MaxFrame.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var clients = new List<WireClient>();
        for (var i = 0; i < 3; i++)
        {
            clients.Add(await WireClient.ConnectAsync(serve.EndPoint));
        }

        await WaitForLogAsync(serve, "client 3 connected");
        var random = new Random(11);
        var payloads = Enumerable.Range(0, 40).Select(i => RandomBytes(random, i == 0 ? MaxFrame : random.Next(0, 3000))).ToList();
        var sending = clients[0].SendSplitAsync([.. payloads.SelectMany(p => WireClient.LengthFrame(p))], random);
        foreach (var client in clients)
        {
            foreach (var payload in payloads)
            {
                Assert.Equal(payload, await client.ReadLengthFrameAsync());
            }
        }

        await sending;
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Two_people_can_chat()
    {
        await using var serve = await ServeProcess.StartAsync();
        using var ann = await WireClient.ConnectAsync(serve.EndPoint);
        Assert.StartsWith("* welcome, guest1.", await ann.ReadLineAsync(), StringComparison.Ordinal);
        await ann.SendLineAsync("/nick ann");
        Assert.Equal("* you are now ann", await ann.ReadLineAsync());

        using var bob = await WireClient.ConnectAsync(serve.EndPoint);
        Assert.StartsWith("* welcome, guest2. 2 here.", await bob.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Equal("* guest2 joined", await ann.ReadLineAsync());

        await bob.SendAsync("hi ann\r\n"u8.ToArray());
        Assert.Equal("<guest2> hi ann", await ann.ReadLineAsync());
        await ann.SendLineAsync("hello bob");
        Assert.Equal("<ann> hello bob", await bob.ReadLineAsync());
        await bob.SendLineAsync("/who");
        Assert.Equal("* here: ann, guest2", await bob.ReadLineAsync());

        await bob.SendLineAsync("/quit");
        Assert.Equal("* bye", await bob.ReadLineAsync());
        Assert.True(await bob.WaitForCloseAsync());
        Assert.Equal("* guest2 left", await ann.ReadLineAsync());
        await WaitForLogAsync(serve, "client 2 disconnected: ClosedLocally: quit");
    }

    [Fact]
    public async Task A_length_header_past_max_frame_closes_that_client_at_once_and_others_keep_echoing()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "length", "--mode", "echo", "--max-frame", "1024");
        using var bad = await WireClient.ConnectAsync(serve.EndPoint);
        using var good = await WireClient.ConnectAsync(serve.EndPoint);
        await bad.SendAsync(new byte[] { 0, 0, 4, 1 }); // 1025 > 1024
        Assert.True(await bad.WaitForCloseAsync(TimeSpan.FromSeconds(5)));
        await WaitForLogAsync(serve, "FrameTooLarge");

        var payload = RandomBytes(new Random(5), 1024);
        await good.SendLengthFrameAsync(payload);
        Assert.Equal(payload, await good.ReadLengthFrameAsync());
    }

    [Fact]
    public async Task Sigterm_stops_gracefully_and_exits_zero()
    {
        await using var serve = await ServeProcess.StartAsync("--mode", "echo");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await WaitForLogAsync(serve, "client 1 connected");
        Assert.Equal(0, await serve.TerminateAsync());
        Assert.True(await client.WaitForCloseAsync());
        Assert.Contains("client 1 disconnected: ServerStopping", serve.Output, StringComparison.Ordinal);
        Assert.Contains("stopped", serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_a_low_descriptor_limit_a_connection_storm_is_capped_below_it_and_the_server_serves_on()
    {
        // A .NET process out of descriptors cannot start a thread and aborts ("Out of memory"): the server must stop
        // admitting while the runtime still has a reserve, and say so at start. No warm-up: a cold process survives too.
        await using var serve = await ServeProcess.StartAsync(maxOpenFiles: 256, "--protocol", "length", "--mode", "echo");
        var cap = int.Parse(CapLine().Match(await WaitForLogAsync(serve, "ulimit -n 256")).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cap, 1, 256 - 32);

        var clients = new List<WireClient>();
        try
        {
            // More clients than the descriptor limit: the server admits `cap` and resets the rest at once (a reset can
            // reach a client while its connect is still completing).
            for (var i = 0; i < 300; i++)
            {
                try
                {
                    clients.Add(await WireClient.ConnectAsync(serve.EndPoint));
                }
                catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
                {
                }
            }

            await WaitForLogAsync(serve, $"Connection limit of {cap} reached");
            await WaitForLogAsync(serve, $"client {cap} connected");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        // Alive, and serving again once the storm has left.
        await serve.WaitForLineAsync("disconnected", cap);
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await client.SendLengthFrameAsync("alive"u8);
        Assert.Equal("alive"u8.ToArray(), await client.ReadLengthFrameAsync(TimeSpan.FromSeconds(15)));
        Assert.DoesNotContain("Out of memory", serve.Output, StringComparison.Ordinal);

        // The flood of refusals is reported once per streak, not once per refused socket (dozens were refused).
        var reports = serve.Output.Split('\n').Count(l => l.Contains("Connection limit of", StringComparison.Ordinal));
        Assert.InRange(reports, 1, 5);
    }

    [Theory]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--protocol", "xml", "--protocol")]
    [InlineData("--mode", "chat", "--mode chat needs --protocol line", "--protocol", "length")]
    [InlineData("--max-frame", "0", "--max-frame")]
    [InlineData("--bogus", "1", "Unrecognized command or argument '--bogus'")]
    [InlineData("--host", "not-an-ip", "--host")]
    [InlineData("--idle-timeout", "-5", "--idle-timeout")]
    [InlineData("--max-connections-per-ip", "0", "--max-connections-per-ip")]
    [InlineData("--tls-cert", "/nonexistent/cert.pem", "--tls-cert: cannot load /nonexistent/cert.pem")]
    [InlineData("--tls-password", "secret", "--tls-password needs --tls-cert")]
    public Task Bad_options_get_a_clear_message_and_a_non_zero_exit(string name, string value, string expected, params string[] more) =>
        AssertRefusedAsync(["serve", name, value, .. more], expected);

    [Theory]
    [InlineData("--depth", "0", "--depth")]
    [InlineData("--senders", "5", "--senders 5 is more than --connections 1")]
    [InlineData("--size", "4", "--mode broadcast needs --size of at least 8", "--mode", "broadcast")]
    [InlineData("--rate", "0", "--rate")]
    [InlineData("--protocol", "xml", "--protocol")]
    [InlineData("--plot", "out.jpg", "--plot: 'out.jpg' must end in .png or .svg")]
    [InlineData("--io", "blocking", "--io")]
    public Task Bench_bad_options_get_a_clear_message_and_a_non_zero_exit(string name, string value, string expected, params string[] more) =>
        AssertRefusedAsync(["bench", name, value, .. more], expected);

    private static async Task AssertRefusedAsync(string[] args, string expected)
    {
        var (exitCode, output) = await ServeProcess.RunToEndAsync(args);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_never_reads_cannot_grow_the_server_past_its_send_queue_limit()
    {
        const int limit = 1024 * 1024;
        const int message = 4096;
        const int total = 64 * 1024 * 1024;
        await using var serve = await ServeProcess.StartAsync("--protocol", "length", "--mode", "broadcast", "--send-queue-limit", $"{limit}");
        using var stalled = await WireClient.ConnectAsync(serve.EndPoint, receiveBufferSize: 4096);
        using var sender = await WireClient.ConnectAsync(serve.EndPoint);
        await WaitForLogAsync(serve, "client 2 connected");

        // Warm up, so the baseline includes the JIT and the pools, then send 64 MiB that the stalled client never reads.
        var frame = WireClient.LengthFrame(new byte[message]);
        await sender.SendAsync(frame);
        await sender.ReadLengthFrameAsync();
        var before = serve.ResidentBytes();

        // 64 messages (256 KiB) in flight at a time: within the sender's own queue limit, so none of its copies is
        // refused, and it gets every one back: everything went through the server, to both clients' queues.
        var window = Enumerable.Repeat(frame, 64).SelectMany(f => f).ToArray();
        for (var sent = 0; sent < total; sent += 64 * message)
        {
            await sender.SendAsync(window);
            await sender.ReadExactlyAsync(window.Length, TimeSpan.FromSeconds(30));
        }

        var grown = serve.ResidentBytes() - before;

        // Unbounded, the stalled client's queue alone would hold 64 MiB now; bounded, at most its 1 MiB limit (plus
        // a buffer of that size in flight) and the runtime's own noise.
        Assert.True(grown < limit + (24 * 1024 * 1024), $"the server grew by {grown / 1024 / 1024.0:F1} MiB while a client never read");
        Assert.Contains("client 1", serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Openssl_s_client_gets_its_line_echoed_over_tls()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cbuff-test-{Guid.NewGuid():N}.pem");
        var certificate = TestCertificates.Localhost;
        await File.WriteAllTextAsync(path, certificate.ExportCertificatePem() + "\n" + certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        try
        {
            await using var serve = await ServeProcess.StartAsync("--tls-cert", path, "--mode", "echo");
            var info = new System.Diagnostics.ProcessStartInfo("openssl", ["s_client", "-connect", $"127.0.0.1:{serve.EndPoint.Port}", "-quiet", "-no_ign_eof"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var openssl = System.Diagnostics.Process.Start(info)!;
            try
            {
                await openssl.StandardInput.WriteLineAsync("hello from openssl");
                await openssl.StandardInput.FlushAsync();
                var reply = await openssl.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15));
                Assert.Equal("hello from openssl", reply);
            }
            finally
            {
                openssl.Kill();
                await openssl.WaitForExitAsync();
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("length", "echo", 64)]
    [InlineData("line", "echo", 64)]
    [InlineData("length", "broadcast", 64)]
    [InlineData("length", "echo", 64 * 1024)] // frames that span reads on both sides
    [InlineData("length", "echo", 64 * 1024, "inline")] // the bench fails if its reads still resumed on the thread pool
    public async Task Bench_against_serve_for_two_seconds_checks_every_byte_and_reports_no_errors(string protocol, string mode, int size, string io = "threadpool")
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", protocol, "--mode", mode);
        var json = Path.Combine(Path.GetTempPath(), $"cbuff-bench-{Guid.NewGuid():N}.json");
        try
        {
            var (exitCode, output) = await ServeProcess.RunToEndAsync(
                "bench", "--port", $"{serve.EndPoint.Port}", "--protocol", protocol, "--mode", mode,
                "--connections", "8", "--depth", "8", "--size", $"{size}", "--io", io, "--seconds", "2", "--warmup", "0.5", "--json", json);
            Assert.True(exitCode == 0, output);
            Assert.Matches(@"errors\s+0\b", output);
            using var report = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(json));
            Assert.Equal(0, report.RootElement.GetProperty("errors").GetInt64());
            Assert.True(report.RootElement.GetProperty("messages").GetInt64() > 0, output);
            Assert.Equal(io, report.RootElement.GetProperty("io").GetString());
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData(".png")]
    [InlineData(".svg")]
    public async Task Bench_plot_draws_latency_and_throughput_and_prints_the_percentile_table(string extension)
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "length");
        var plot = Path.Combine(Path.GetTempPath(), $"cbuff-plot-{Guid.NewGuid():N}{extension}");
        try
        {
            var (exitCode, output) = await ServeProcess.RunToEndAsync(
                "bench", "--port", $"{serve.EndPoint.Port}", "--connections", "2", "--depth", "4", "--seconds", "1.5", "--warmup", "0.2", "--plot", plot);
            Assert.True(exitCode == 0, output);
            foreach (var column in new[] { "connections", "messages", "errors", "msg/s", "MB/s", "min", "mean", "p50", "p90", "p99", "p99.9", "max" })
            {
                Assert.Contains(column, output, StringComparison.Ordinal);
            }

            var bytes = await File.ReadAllBytesAsync(plot);
            if (extension == ".png")
            {
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            }
            else
            {
                var svg = System.Text.Encoding.UTF8.GetString(bytes);
                Assert.Contains("<svg", svg, StringComparison.Ordinal);
            }

            Assert.True(bytes.Length > 10_000, $"a plot of {bytes.Length} bytes has nothing drawn");
        }
        finally
        {
            File.Delete(plot);
        }
    }

    [Fact]
    public async Task On_a_terminal_serve_shows_a_live_status_line_and_redirected_it_prints_only_log_lines()
    {
        await using var onTerminal = await ServeProcess.StartOnTerminalAsync("--protocol", "length");
        await using var redirected = await ServeProcess.StartAsync("--protocol", "length");
        foreach (var serve in new[] { onTerminal, redirected })
        {
            var (exitCode, output) = await ServeProcess.RunToEndAsync(
                "bench", "--port", $"{serve.EndPoint.Port}", "--connections", "3", "--seconds", "2", "--warmup", "0");
            Assert.True(exitCode == 0, output);
        }

        // Refreshed every second while the three bench clients were connected.
        await onTerminal.WaitForLineAsync("3 clients | in ");
        Assert.Contains("msg/s", onTerminal.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("clients | in", redirected.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_that_cannot_reach_a_server_says_so_and_fails()
    {
        var (exitCode, output) = await ServeProcess.RunToEndAsync("bench", "--port", "1", "--seconds", "1");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("cannot reach 127.0.0.1:1", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("pfx")]
    public async Task Tls_cert_serves_tls_from_a_pem_or_pkcs12_file(string format)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cbuff-test-{Guid.NewGuid():N}.{format}");
        var certificate = TestCertificates.Localhost;
        if (format == "pem")
        {
            await File.WriteAllTextAsync(path, certificate.ExportCertificatePem() + "\n" + certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        }
        else
        {
            await File.WriteAllBytesAsync(path, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12, "pw"));
        }

        try
        {
            string[] args = format == "pem" ? ["--tls-cert", path, "--mode", "echo"] : ["--tls-cert", path, "--tls-password", "pw", "--mode", "echo"];
            await using var serve = await ServeProcess.StartAsync(args);
            using var tcp = await WireClient.ConnectAsync(serve.EndPoint);
            await using var tls = new System.Net.Security.SslStream(new System.Net.Sockets.NetworkStream(tcp.Socket), false, (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString());
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token);
            await tls.WriteAsync("over tls\n"u8.ToArray(), timeout.Token);
            var reply = new byte[9];
            await tls.ReadExactlyAsync(reply, timeout.Token);
            Assert.Equal("over tls\n", Encoding.UTF8.GetString(reply));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Task<string> WaitForLogAsync(ServeProcess serve, string text) => serve.WaitForLineAsync(text);

    [GeneratedRegex(@"leaves room for (\d+)")]
    private static partial Regex CapLine();

    private static byte[] RandomBytes(Random random, int size)
    {
        var bytes = new byte[size];
        random.NextBytes(bytes);
        return bytes;
    }
}
