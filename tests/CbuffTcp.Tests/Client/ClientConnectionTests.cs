using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Client;

/// <summary>The client counterpart, against the real server, with the same protocols and handler shape.</summary>
public class ClientConnectionTests
{
    [Fact]
    public async Task Client_sends_receives_and_closes_with_events_on_both_sides()
    {
        var serverHandler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(serverHandler, protocol: new LineProtocol());
        var clientHandler = new RecordingHandler();
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler);

        await client.ConnectAsync("127.0.0.1", fixture.EndPoint.Port);
        await clientHandler.WaitForAsync("connected");
        Assert.True(client.IsConnected);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(SendResult.Queued, client.Send(Encoding.UTF8.GetBytes($"line {i}")));
        }

        await clientHandler.WaitUntilAsync(_ => clientHandler.ReceivedBy(1).Count() == 100, what: "100 echoes");
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"line {i}"), clientHandler.ReceivedBy(1).Select(b => Encoding.UTF8.GetString(b)));

        await client.CloseAsync("bye").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(client.IsConnected);
        Assert.Equal(new DisconnectInfo(DisconnectReason.ClosedLocally, "bye"), (await clientHandler.WaitForAsync("disconnected")).Reason);
        Assert.Equal(DisconnectReason.RemoteClosed, (await serverHandler.WaitForAsync("disconnected")).Reason!.Value.Reason);
        Assert.Equal(SendResult.Closed, client.Send("late"u8.ToArray()));
        Assert.Equal(0, clientHandler.Overlaps);
    }

    [Fact]
    public async Task A_connected_clients_socket_is_watched_by_one_epoll_instance()
    {
        var serverHandler = new EchoHandler();
        await using var fixture = await ServerFixture<EchoHandler>.StartAsync(serverHandler, protocol: new LineProtocol());
        var clientHandler = new RecordingHandler();
        await using var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), clientHandler);
        await client.ConnectAsync(fixture.EndPoint);
        Assert.Equal(SendResult.Queued, client.Send("ping"u8.ToArray()));
        await clientHandler.WaitForAsync("received"); // both directions used: every registration made is there now

        // The runtime's engine (thread-pool mode) or CbuffTcp's I/O thread, never both: each wakes its own thread.
        Assert.Equal(1, EpollRegistrations.Of((IPEndPoint)client.Connection!.LocalEndPoint!));
    }

    [Fact]
    public async Task Server_closing_the_client_is_seen_as_remote_closed_and_the_client_can_reconnect()
    {
        var serverHandler = new RecordingHandler();
        await using var fixture = await ServerFixture<RecordingHandler>.StartAsync(serverHandler);
        var clientHandler = new RecordingHandler();
        var client = new TcpClient<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), clientHandler);

        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, fixture.EndPoint.Port));
        await serverHandler.WaitForAsync("connected");
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync(fixture.EndPoint));
        fixture.Server.SendToClient(1, new ReadOnlySequence<byte>("goodbye"u8.ToArray()));
        fixture.Server.CloseClient(1, "server says bye");
        await client.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("goodbye", Encoding.UTF8.GetString(clientHandler.ReceivedBy(1).Single()));
        Assert.Equal(DisconnectReason.RemoteClosed, (await clientHandler.WaitForAsync("disconnected", 1)).Reason!.Value.Reason);

        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, fixture.EndPoint.Port));
        await clientHandler.WaitForAsync("connected", 2);
        Assert.Equal(2, client.Connection!.Id);
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Connecting_to_a_closed_port_fails_with_a_socket_error()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port; // bound but not listening: connects are refused

        var client = new TcpClient<ReadOnlySequence<byte>>(new LineProtocol(), new RecordingHandler());
        var error = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync("127.0.0.1", port));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.False(client.IsConnected);
    }
}
