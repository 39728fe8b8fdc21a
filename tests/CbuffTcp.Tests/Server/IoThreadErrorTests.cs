using System.Buffers;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>An exception that escapes a wake-up on an I/O thread (a CbuffTcp bug) is reported by the servers that run, not only counted.</summary>
/// <remarks>
/// Alone: every server running in the process reports such an exception, so one thrown here while another test's
/// server runs reaches that test's handler too (it once failed a test that counted its handler's errors).
/// </remarks>
[Collection(RunsAlone.Name)]
public sealed class IoThreadErrorTests
{
    [IoThreadsFact]
    public async Task An_exception_escaping_an_io_thread_reaches_the_running_servers_error_event()
    {
        var handler = new RecordingHandler();
        await using var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), handler, new TcpServerOptions { IoMode = IoMode.IoThreads });
        await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal(IoMode.IoThreads, server.IoModeInUse);

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(listener.LocalEndPoint!);
        using var socket = new IoSocket(await listener.AcceptAsync());

        // A continuation that throws on the I/O thread stands in for a bug in one: nothing but the loop catches it.
        var before = IoLoop.UnexpectedErrors;
        ThrowWhenReadable(socket, "a continuation failed");
        await peer.SendAsync(new byte[] { 1 });

        var report = await handler.WaitForAsync("error");
        Assert.Contains("I/O thread", report.Text, StringComparison.Ordinal);
        Assert.Equal("a continuation failed", report.Error!.Message);
        Assert.True(IoLoop.UnexpectedErrors > before);

        await server.StopAsync();
        Assert.Equal(1, TransportReads.Now(socket, new byte[8])); // drained: the next wait waits for the next byte
        var reports = handler.Events.Count(e => e.Kind == "error");
        ThrowWhenReadable(socket, "after the stop");
        await peer.SendAsync(new byte[] { 2 });
        await WaitUntilAsync(() => IoLoop.UnexpectedErrors > before + 1);
        Assert.Equal(reports, handler.Events.Count(e => e.Kind == "error")); // a stopped server no longer listens to the loops
    }

    /// <summary>Hooks a continuation that throws onto the socket's next wake-up; it runs inline on the I/O thread.</summary>
    private static void ThrowWhenReadable(IoSocket socket, string message) =>
        Hook(socket.WaitForDataAsync(), message);

    private static void Hook(ValueTask<int> wait, string message)
    {
        Assert.False(wait.IsCompleted, "the socket was readable already: the continuation would run on the thread pool");
        wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => throw new InvalidOperationException(message));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
