// The example of docs/testing.md, verbatim between the markers: DocumentationTests checks the page still shows it.
// docs/testing.md example begins
using System.Buffers;
using System.Text;
using CbuffTcp;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace MyApp.Tests;

/// <summary>The handler under test: greets each client, then answers every line in upper case.</summary>
public sealed class ShoutingHandler : TcpHandler<ReadOnlySequence<byte>>
{
    public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
    {
        connection.Send(Line("hello"));
        return ValueTask.CompletedTask;
    }

    public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            connection.Send(Line(Encoding.UTF8.GetString(message).ToUpperInvariant()));
        }

        return ValueTask.CompletedTask;
    }

    public static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));
}

public class ShoutingHandlerTests
{
    [Fact]
    public async Task It_greets_then_answers_each_line_in_upper_case()
    {
        await using var server = await InMemoryServer.StartAsync(new LineProtocol(), new ShoutingHandler());
        using var client = server.Connect();

        Assert.Equal("hello", Encoding.UTF8.GetString(await client.ReceiveAsync()));
        await client.WriteAsync("ping\npong\n"u8.ToArray()); // raw bytes: two lines in one write
        Assert.Equal("PING", Encoding.UTF8.GetString(await client.ReceiveAsync()));
        Assert.Equal("PONG", Encoding.UTF8.GetString(await client.ReceiveAsync()));
    }

    [Fact]
    public async Task A_client_that_stays_silent_is_closed_once_the_idle_timeout_passes()
    {
        var clock = new FakeTimeProvider();
        var options = new TcpServerOptions { IdleTimeout = TimeSpan.FromSeconds(30), TimeProvider = clock };
        await using var server = await InMemoryServer.StartAsync(new LineProtocol(), new ShoutingHandler(), options);
        using var client = server.Connect();
        await client.ReceiveAsync(); // the greeting: the server has admitted the client

        clock.Advance(TimeSpan.FromSeconds(31)); // no real time passes
        Assert.Equal(ConnectionEnd.Closed, await client.WaitForEndAsync());
    }
}
// docs/testing.md example ends
