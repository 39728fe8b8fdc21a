using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections.IoThreads;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// An I/O thread checks for events without sleeping for its spin window after the last one, then sleeps; with no window
/// it sleeps for every event. The setting that sets the window refuses what is not 0 to 1,000 microseconds.
/// </summary>
public sealed class IoLoopSpinTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    // Loops of these tests' own, with windows the library's default would never make observable. Like the library's,
    // their threads live as long as the process.
    private static readonly Lazy<IoLoop> s_longWindow = new(() => new IoLoop(90, TimeSpan.FromMilliseconds(500)));
    private static readonly Lazy<IoLoop> s_noWindow = new(() => new IoLoop(91, TimeSpan.Zero));

    [IoThreadsFact]
    public async Task Data_that_comes_within_the_window_is_found_without_sleeping_and_the_loop_sleeps_after_it()
    {
        var loop = s_longWindow.Value;
        await using var pair = await SocketPair.ConnectAsync(loop);
        var foundSpinning = loop.EventsFoundSpinning;

        // Each byte comes right after the previous one was read, well within the window: unless this machine stalls
        // for half a second, the loop is still checking when it arrives.
        for (var i = 0; i < 20 && loop.EventsFoundSpinning == foundSpinning; i++)
        {
            await pair.RoundTripAsync();
        }

        Assert.True(loop.EventsFoundSpinning > foundSpinning, "20 bytes sent within the window, none found without sleeping");

        // Once nothing comes for the window, the thread sleeps (a loop that never stopped spinning would burn its core).
        var sleeps = loop.Sleeps;
        var deadline = Stopwatch.StartNew();
        while (loop.Sleeps == sleeps && deadline.Elapsed < Timeout)
        {
            await Task.Delay(50);
        }

        Assert.True(loop.Sleeps > sleeps, $"the loop still spins {Timeout.TotalSeconds:0} s after its last event");
    }

    [IoThreadsFact]
    public async Task With_no_window_the_loop_sleeps_until_each_event()
    {
        var loop = s_noWindow.Value;
        await using var pair = await SocketPair.ConnectAsync(loop);
        var sleeps = loop.Sleeps;

        for (var i = 0; i < 20; i++)
        {
            await pair.RoundTripAsync();
        }

        // The first byte may end a sleep counted before the baseline; each later one comes to a loop that slept again.
        Assert.Equal(0, loop.EventsFoundSpinning);
        Assert.True(loop.Sleeps - sleeps >= 19, $"20 bytes each sent after the previous was read, {loop.Sleeps - sleeps} sleeps counted");
    }

    [Theory]
    [InlineData(null, IoSpinWindow.DefaultMicroseconds)]
    [InlineData("0", 0)]
    [InlineData("200", 200)]
    [InlineData(1000, 1000)]
    public void The_setting_takes_whole_microseconds_from_0_to_1000(object? value, int microseconds) =>
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), IoSpinWindow.Parse(value));

    [Theory]
    [InlineData("-1")]
    [InlineData("1001")]
    [InlineData("50us")]
    [InlineData("2.5")]
    [InlineData("")]
    public void The_setting_refuses_anything_else_naming_itself(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => IoSpinWindow.Parse(value));
        Assert.Contains(IoSpinWindow.SettingName, error.Message);
        Assert.Contains($"'{value}'", error.Message);
    }

    /// <summary>A connected pair: the accepted side on the given loop, the other a plain blocking-free socket.</summary>
    private sealed class SocketPair : IAsyncDisposable
    {
        private readonly Socket _peer;
        private readonly IoSocket _socket;
        private readonly byte[] _buffer = new byte[16];

        private SocketPair(Socket peer, IoSocket socket) => (_peer, _socket) = (peer, socket);

        public static async Task<SocketPair> ConnectAsync(IoLoop loop)
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await peer.ConnectAsync(listener.LocalEndPoint!);
            var accepted = await listener.AcceptAsync();
            return new SocketPair(peer, new IoSocket(accepted, loop));
        }

        /// <summary>Sends one byte from the peer and reads it on the loop's socket.</summary>
        public async Task RoundTripAsync()
        {
            var waiting = _socket.WaitForDataAsync().AsTask();
            await _peer.SendAsync(new byte[] { 1 });
            await waiting.WaitAsync(Timeout);
            var received = TransportReads.Now(_socket, _buffer);
            Assert.Equal(1, received);
        }

        public ValueTask DisposeAsync()
        {
            _socket.Dispose();
            _peer.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
