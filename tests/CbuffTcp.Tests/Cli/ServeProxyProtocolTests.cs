using System.Net;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Cli;

/// <summary>
/// A real HAProxy in front of <c>cbuff serve --proxy-protocol</c>: with <c>send-proxy</c> and <c>send-proxy-v2</c> the
/// server logs the client's address as HAProxy saw it (not HAProxy's own), and serves it through; a header from a
/// proxy it does not trust is refused.
/// </summary>
public class ServeProxyProtocolTests
{
    [Theory]
    [InlineData("send-proxy")]
    [InlineData("send-proxy-v2")]
    public async Task Behind_HAProxy_the_server_logs_the_clients_own_address(string serverOption)
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--proxy-protocol", "--trusted-proxy", "127.0.0.1/32");
        await using var haproxy = await HaproxyProcess.StartAsync(serve.EndPoint.Port, serverOption);
        using var client = await WireClient.ConnectAsync(haproxy.EndPoint);
        var seenByHaproxy = (IPEndPoint)client.Socket.LocalEndPoint!;

        await client.SendLineAsync("through haproxy");
        Assert.Equal("through haproxy", await client.ReadLineAsync());
        await serve.WaitForLineAsync($"connected from 127.0.0.1:{seenByHaproxy.Port}");
    }

    [Fact]
    public async Task A_header_from_a_proxy_it_does_not_trust_is_refused()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--proxy-protocol", "--trusted-proxy", "10.0.0.0/8");
        await using var haproxy = await HaproxyProcess.StartAsync(serve.EndPoint.Port, "send-proxy-v2");
        using var client = await WireClient.ConnectAsync(haproxy.EndPoint);
        await client.SendLineAsync("spoofed?");

        Assert.True(await client.WaitForCloseAsync(), "the connection through an untrusted proxy stayed open");
        var refused = await serve.WaitForLineAsync("Refused a connection from 127.0.0.1:");
        Assert.Contains("which is not a trusted proxy", refused, StringComparison.Ordinal);
        Assert.DoesNotContain($"connected from 127.0.0.1:{((IPEndPoint)client.Socket.LocalEndPoint!).Port}", serve.Output, StringComparison.Ordinal);
    }
}
