using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace CbuffTcp.Cli.Bench;

/// <summary>
/// One connection of a run. A sender keeps <see cref="BenchOptions.Depth"/> messages in flight (closed loop), or sends
/// on a fixed schedule (open loop, <c>--rate</c>), and times each of its own messages from send (or intended send) to
/// its return. Every connection checks every byte it receives. Buffers are made once: nothing is allocated per message.
/// </summary>
internal sealed class BenchClient
{
    private const int RingSize = 1 << 16;
    private const int SmallRemainder = 4096;

    private readonly Socket _socket;
    private readonly SslStream? _tls;
    private readonly BenchOptions _options;
    private readonly BenchWire _wire;
    private readonly BenchStats _stats;
    private readonly int _index;
    private readonly bool _sends;
    private readonly long[] _sentAt = new long[RingSize];
    private readonly byte[] _receive;
    private readonly byte[] _send;
    private readonly uint[]? _lastFromSender;
    private uint _nextToSend;
    private uint _nextOwnExpected;

    private BenchClient(Socket socket, SslStream? tls, BenchOptions options, BenchWire wire, BenchStats stats, int index)
    {
        _socket = socket;
        _tls = tls;
        _options = options;
        _wire = wire;
        _stats = stats;
        _index = index;
        _sends = index < options.Senders;
        _receive = new byte[Math.Max(64 * 1024, 4 * wire.FrameSize)];
        _send = new byte[wire.FrameSize * wire.Slots];
        for (var slot = 0; slot < wire.Slots; slot++)
        {
            wire.Write(SlotFrame(slot), index, (uint)slot); // from now on a new message only renumbers its slot's frame
        }

        _lastFromSender = options.Mode == BenchMode.Broadcast ? new uint[options.Senders] : null;
    }

    /// <summary>Reads this connection made, and how many of them resumed on a thread-pool thread (for <see cref="BenchIo"/>).</summary>
    public long Reads { get; private set; }

    /// <inheritdoc cref="Reads"/>
    public long ReadsOnThreadPool { get; private set; }

    /// <summary>Own messages sent and not yet back.</summary>
    public long Outstanding => Volatile.Read(ref _nextToSend) - Volatile.Read(ref _nextOwnExpected);

    public static async Task<BenchClient> ConnectAsync(BenchOptions options, BenchWire wire, BenchStats stats, int index, CancellationToken cancellationToken)
    {
        var socket = options.UnixSocket is null
            ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        SslStream? tls = null;
        try
        {
            await socket.ConnectAsync(options.TargetOf(index), cancellationToken).ConfigureAwait(false);
            if (options.Tls)
            {
                tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(TlsOptions, cancellationToken).ConfigureAwait(false);
            }

            return new BenchClient(socket, tls, options, wire, stats, index);
        }
        catch
        {
            tls?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>TLS 1.3 without checking the server's certificate: the benchmark's servers use a throwaway one.</summary>
#pragma warning disable CA5359 // a load generator against local test servers with self-signed certificates, never a client of real ones
    private static readonly SslClientAuthenticationOptions TlsOptions = new()
    {
        TargetHost = "localhost",
        EnabledSslProtocols = SslProtocols.Tls13,
        RemoteCertificateValidationCallback = static (_, _, _, _) => true,
    };
#pragma warning restore CA5359

    /// <summary>
    /// One connection's whole life, for <see cref="BenchMode.Handshake"/>: connects (and shakes hands), sends one
    /// message, checks its echo, and resets. True when the echo came back exactly.
    /// </summary>
    public static async Task<bool> ConnectEchoAndResetAsync(BenchOptions options, BenchWire wire, BenchStats stats, int index, CancellationToken cancellationToken)
    {
        var client = await ConnectAsync(options, wire, stats, index, cancellationToken).ConfigureAwait(false);
        try
        {
            await client.SendAsync(1).ConfigureAwait(false);
            var frame = wire.FrameSize;
            var received = 0;
            while (received < frame)
            {
                var read = await client.ReadAsync(client._receive.AsMemory(received), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    stats.Error($"connection {index}: the server closed the connection before its echo");
                    return false;
                }

                received += read;
            }

            if (!wire.IsExactly(client._receive.AsSpan(0, frame), index, 0))
            {
                stats.Error($"connection {index}: its message came back altered");
                return false;
            }

            return true;
        }
        finally
        {
            client.Reset();
        }
    }

    /// <summary>Runs until <paramref name="stopSending"/>, then until its own messages are back or <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stopSending, CancellationToken stop)
    {
        try
        {
            Task? scheduled = null;
            if (_sends && _options.Rate is { } rate)
            {
                scheduled = SendOnScheduleAsync(rate / _options.Senders, stopSending);
            }
            else if (_sends)
            {
                await SendAsync(_options.Depth).ConfigureAwait(false);
            }

            await ReceiveAsync(stopSending, stop).ConfigureAwait(false);
            if (scheduled is not null)
            {
                await scheduled.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested || stopSending.IsCancellationRequested)
        {
        }
        catch (SocketException ex)
        {
            _stats.Error($"connection {_index}: {ex.Message}");
        }
    }

    /// <summary>True while the server has neither closed nor reset the connection.</summary>
    public bool IsOpen
    {
        get
        {
            try
            {
                return !(_socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0);
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }

    /// <summary>Resets the connection: no TIME_WAIT is left on this side, so repeated runs do not run out of ports.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _tls?.Dispose();
        _socket.Dispose();
    }

    private ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _tls is null ? _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) : _tls.ReadAsync(buffer, cancellationToken);

    private async Task ReceiveAsync(CancellationToken stopSending, CancellationToken stop)
    {
        // Received bytes not yet checked are _receive[start..end). A small remainder moves to the front after each read
        // (cheap, and reads stay in the buffer's first, cache-warm bytes); a large partial frame stays where it is
        // while a frame still fits behind it, so large frames are not moved after every read.
        var start = 0;
        var end = 0;
        var frame = _wire.FrameSize;
        while (!(stopSending.IsCancellationRequested && (!_sends || Outstanding == 0)))
        {
            if (end - start <= SmallRemainder || _receive.Length - end < Math.Max(frame, _receive.Length / 4))
            {
                _receive.AsSpan(start, end - start).CopyTo(_receive);
                (start, end) = (0, end - start);
            }

            var read = await ReadAsync(_receive.AsMemory(end), stop).ConfigureAwait(false);
            Reads++;
            ReadsOnThreadPool += Thread.CurrentThread.IsThreadPoolThread ? 1 : 0;
            if (read == 0)
            {
                _stats.Error($"connection {_index}: the server closed the connection");
                return;
            }

            var now = Stopwatch.GetTimestamp();
            var available = end + read;
            var offset = start;
            var own = 0;
            var counted = 0;
            for (; available - offset >= frame; offset += frame)
            {
                if (!Check(_receive.AsSpan(offset, frame), now, ref own))
                {
                    return;
                }

                counted++;
            }

            if (_stats.InWindow(now))
            {
                _stats.Add(counted, (long)counted * _options.Size);
            }

            (start, end) = offset == available ? (0, 0) : (offset, available);
            if (_sends && _options.Rate is null && own > 0 && !stopSending.IsCancellationRequested)
            {
                await SendAsync(own).ConfigureAwait(false); // closed loop: as many new as came back
            }
        }
    }

    /// <summary>Checks one received frame byte for byte; times it if it is this connection's own.</summary>
    private bool Check(ReadOnlySpan<byte> received, long now, ref int own)
    {
        int sender;
        uint sequence;
        if (_lastFromSender is null)
        {
            (sender, sequence) = (_index, _nextOwnExpected); // echo: our own, in order
        }
        else
        {
            // Broadcast: each sender's messages must arrive in its order (a slow receiver may miss some: the server
            // refuses what its queue cannot take). The table holds the last sequence seen + 1; 0 = none yet.
            (sender, sequence) = _wire.ReadId(received);
            if ((uint)sender >= (uint)_lastFromSender.Length || sequence + 1 <= _lastFromSender[sender])
            {
                _stats.Error($"connection {_index}: message {sequence} of sender {sender} out of order or unknown");
                return false;
            }

            _lastFromSender[sender] = sequence + 1;
        }

        if (!_wire.IsExactly(received, sender, sequence))
        {
            _stats.Error($"connection {_index}: message {sequence} of sender {sender} came back altered");
            return false;
        }

        if (sender == _index)
        {
            if (_stats.InWindow(now))
            {
                _stats.RecordLatency(Volatile.Read(ref _sentAt[sequence & (RingSize - 1)]), now);
            }

            Volatile.Write(ref _nextOwnExpected, _nextOwnExpected + 1);
            own++;
        }

        return true;
    }

    /// <summary>
    /// Sends <paramref name="count"/> new messages, as many per send call as lie in a row in the slots' frames. Each is
    /// timed from now, or on a schedule: from <paramref name="firstDue"/>, one every <paramref name="ticksApart"/>.
    /// </summary>
    private async ValueTask SendAsync(int count, long firstDue = 0, double ticksApart = 0)
    {
        var sent = 0;
        while (count > 0)
        {
            var first = _wire.SlotOf(_nextToSend);
            var batch = Math.Min(count, _wire.Slots - first);
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < batch; i++, sent++)
            {
                var sequence = _nextToSend + (uint)i;
                _sentAt[sequence & (RingSize - 1)] = firstDue == 0 ? now : firstDue + (long)(sent * ticksApart);
                _wire.Renumber(SlotFrame(first + i), _index, sequence);
            }

            Volatile.Write(ref _nextToSend, _nextToSend + (uint)batch);
            var frames = _send.AsMemory(first * _wire.FrameSize, batch * _wire.FrameSize);
            if (_tls is null)
            {
                await _socket.SendAsync(frames, SocketFlags.None).ConfigureAwait(false);
            }
            else
            {
                await _tls.WriteAsync(frames).ConfigureAwait(false);
            }
            count -= batch;
        }
    }

    private Span<byte> SlotFrame(int slot) => _send.AsSpan(slot * _wire.FrameSize, _wire.FrameSize);

    /// <summary>
    /// Open loop: message k is due at start + k / rate, whether or not earlier ones came back, and its latency is
    /// counted from then (no coordinated omission: a stalled server shows as latency, not as fewer samples).
    /// </summary>
    private async Task SendOnScheduleAsync(double perSecond, CancellationToken stopSending)
    {
        var start = Stopwatch.GetTimestamp();
        var ticksPerMessage = Stopwatch.Frequency / perSecond;
        long scheduled = 0;
        while (!stopSending.IsCancellationRequested)
        {
            var due = (long)((Stopwatch.GetTimestamp() - start) / ticksPerMessage) + 1;
            if (Outstanding + (due - scheduled) >= RingSize)
            {
                _stats.Error($"connection {_index}: more than {RingSize} messages outstanding; the server is not keeping up with --rate");
                return;
            }

            if (due > scheduled)
            {
                // Everything due goes out now, in as few calls as possible, each timed from when it was due.
                await SendAsync((int)(due - scheduled), start + (long)(scheduled * ticksPerMessage), ticksPerMessage).ConfigureAwait(false);
                scheduled = due;
            }

            var next = start + (long)(scheduled * ticksPerMessage);
            var wait = TimeSpan.FromTicks((long)((next - Stopwatch.GetTimestamp()) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
            await Task.Delay(wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1), stopSending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
