using System.Net;
using System.Net.Sockets;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Cli;

/// <summary><c>cbuff serve --connection-rate-per-ip</c> over real sockets: a flood from 127.0.0.2 is held to its rate, 127.0.0.1 still connects.</summary>
public class ServeConnectionRateTests
{
    [Fact]
    public async Task A_flood_from_one_address_is_reset_past_its_rate_and_another_address_is_served()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "line", "--mode", "echo", "--connection-rate-per-ip", "3");
        var flooder = IPAddress.Parse("127.0.0.2");
        var served = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 30; i++)
        {
            try
            {
                using var client = await WireClient.ConnectAsync(serve.EndPoint, from: flooder);
                await client.SendLineAsync("x");
                if (await client.ReadLineAsync(TimeSpan.FromSeconds(5)) == "x")
                {
                    served++;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or EndOfStreamException or InvalidOperationException)
            {
                // reset by the server: over the rate
            }
        }

        var seconds = Math.Ceiling(clock.Elapsed.TotalSeconds);
        Assert.InRange(served, 3, 3 + (3 * seconds));
        Assert.True(served < 30, "no connection of the flood was refused");

        using var other = await WireClient.ConnectAsync(serve.EndPoint, from: IPAddress.Loopback);
        await other.SendLineAsync("other address");
        Assert.Equal("other address", await other.ReadLineAsync());
        await serve.WaitForLineAsync("opened more than 3 connections in a second");
    }
}
