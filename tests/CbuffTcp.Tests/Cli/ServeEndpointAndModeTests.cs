using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Cli;

/// <summary><c>cbuff serve</c> on a Unix domain socket, with <c>--async-receive</c>, with <c>--protocol raw</c>, and when its I/O threads cannot start.</summary>
public class ServeEndpointAndModeTests
{
    [Fact]
    public async Task With_async_receive_five_lines_then_a_half_close_get_five_echoes()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--async-receive");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await client.SendAsync("1\n2\n3\n4\n5\n"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);

        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), await client.ReadLineAsync());
        }

        Assert.True(await client.WaitForCloseAsync());
        Assert.Contains("async receive", serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_unix_socket_it_echoes_to_nc_and_removes_its_socket_file_at_stop()
    {
        var path = SocketPath();
        await using (var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--unix", path))
        {
            Assert.Equal(path, serve.ListeningOn.ToString());
            Assert.Equal("hello\nwörld\n", await NetcatAsync(path, "hello\nwörld\n"));
            Assert.Equal(0, await serve.TerminateAsync());
        }

        Assert.False(File.Exists(path), "the socket file outlived the server");
    }

    [Fact]
    public async Task A_socket_file_left_by_a_killed_server_is_replaced_and_one_in_use_is_refused()
    {
        var path = SocketPath();
        await using (var crashed = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--unix", path))
        {
        } // killed (SIGKILL): its socket file stays behind

        Assert.True(File.Exists(path));
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--unix", path);
        Assert.Equal("again\n", await NetcatAsync(path, "again\n"));

        var (exitCode, output) = await ServeProcess.RunToEndAsync("serve", "--protocol", "line", "--unix", path);
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"cannot listen on unix:{path}", output, StringComparison.Ordinal);
        Assert.Equal("still\n", await NetcatAsync(path, "still\n")); // the first server was not disturbed
    }

    [Fact]
    public async Task With_the_raw_protocol_bytes_come_back_as_they_were_sent()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "raw", "--mode", "echo");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        var payload = new byte[100_000];
        new Random(5).NextBytes(payload);
        await client.SendSplitAsync(payload, new Random(6));
        Assert.Equal(payload, await client.ReadExactlyAsync(payload.Length));
    }

#if !THREAD_POOL
    [Fact]
    public async Task Without_io_it_serves_on_the_io_threads()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await client.SendLineAsync("fast path");
        Assert.Equal("fast path", await client.ReadLineAsync());
        Assert.Contains("I/O iothreads", serve.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("not available", serve.Output, StringComparison.Ordinal);
    }

#endif
    [Fact]
    public async Task When_its_io_threads_cannot_start_it_says_so_once_and_serves_on_the_thread_pool()
    {
        await using var serve = await ServeProcess.StartWithRuntimeSettingAsync("CbuffTcp.IoThreads.SpinMicroseconds", "lots", "--protocol", "line", "--mode", "echo", "--io", "iothreads");
        using var client = await WireClient.ConnectAsync(serve.EndPoint);
        await client.SendLineAsync("served");
        Assert.Equal("served", await client.ReadLineAsync());

        var warning = await serve.WaitForLineAsync("IoMode.IoThreads is not available here");
        Assert.Contains("SpinMicroseconds", warning, StringComparison.Ordinal);
        Assert.Contains("I/O threadpool", serve.Output, StringComparison.Ordinal);
        Assert.Single(serve.Output.Split('\n'), line => line.Contains("is not available here", StringComparison.Ordinal));
    }

    private static string SocketPath() => Path.Combine(Path.GetTempPath(), $"cbuff-{Guid.NewGuid():N}.sock");

    /// <summary>Sends <paramref name="input"/> with OpenBSD netcat over the Unix socket, half-closing after it, and returns what came back.</summary>
    private static async Task<string> NetcatAsync(string path, string input)
    {
        var info = new ProcessStartInfo("nc") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-N", "-U", path })
        {
            info.ArgumentList.Add(arg);
        }

        using var nc = Process.Start(info) ?? throw new InvalidOperationException("could not start nc (Debian package netcat-openbsd)");
        await nc.StandardInput.WriteAsync(input);
        nc.StandardInput.Close(); // -N: EOF on input shuts the socket down for sending
        var output = nc.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await nc.WaitForExitAsync(timeout.Token);
        return await output;
    }
}
