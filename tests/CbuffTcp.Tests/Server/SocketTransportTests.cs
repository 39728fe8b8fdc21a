using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>The receive path's synchronous read never blocks a thread, whatever the socket holds.</summary>
public class SocketTransportTests
{
    [Fact]
    public async Task A_receive_returns_at_once_when_nothing_is_there_and_reads_what_is()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var transport = new SocketTransport(await listener.AcceptAsync());
        var buffer = new byte[64];

        // Nothing sent: a blocking socket would wait here forever (a zero-byte wait can complete with nothing left
        // to read); the transport's must answer "nothing" at once.
        var nothing = Task.Run(() => TransportReads.Now(transport, buffer));
        Assert.Equal(ConnectionTransport.NothingYet, await nothing.WaitAsync(TimeSpan.FromSeconds(10)));

        await client.SendAsync("hello"u8.ToArray());
        await transport.WaitForDataAsync();
        var received = TransportReads.Now(transport, buffer);
        Assert.Equal("hello"u8.ToArray(), buffer[..received]);
    }
}
