using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CbuffTcp.Tests.Support;

/// <summary>A raw socket peer on 127.0.0.1 that speaks the wire formats by hand, with every read bounded in time.</summary>
public sealed class WireClient : IDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private WireClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<WireClient> ConnectAsync(IPEndPoint server, int? receiveBufferSize = null, IPAddress? from = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (from is not null)
        {
            socket.Bind(new IPEndPoint(from, 0)); // another loopback address (127.0.0.2, …): a different client IP
        }

        if (receiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size;
        }

        using var timeout = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port), timeout.Token);
        return new WireClient(socket);
    }

    /// <summary>Connects and asserts the server closes the connection at once (or resets it before connect returns).</summary>
    public static async Task AssertRefusedAsync(IPEndPoint server, IPAddress? from = null)
    {
        try
        {
            using var client = await ConnectAsync(server, from: from);
            Assert.True(await client.WaitForCloseAsync());
        }
        catch (SocketException)
        {
            // Reset before connect returned: refused all the same.
        }
    }

    public static byte[] LengthFrame(ReadOnlySpan<byte> payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(4));
        return frame;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        while (!bytes.IsEmpty)
        {
            var sent = await Socket.SendAsync(bytes, SocketFlags.None, timeout.Token);
            bytes = bytes[sent..];
        }
    }

    public Task SendLengthFrameAsync(ReadOnlySpan<byte> payload) => SendAsync(LengthFrame(payload));

    public Task SendLineAsync(string line) => SendAsync(Encoding.UTF8.GetBytes(line + "\n"));

    /// <summary>Sends <paramref name="bytes"/> cut at random points into separate sends, so TCP sees them split.</summary>
    public async Task SendSplitAsync(byte[] bytes, Random random)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var take = Math.Min(bytes.Length - offset, random.Next(1, random.Next(2) == 0 ? 8 : 4096));
            await SendAsync(bytes.AsMemory(offset, take));
            offset += take;
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count, TimeSpan? timeout = null)
    {
        var result = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            if (_start == _end && !await FillAsync(timeout))
            {
                throw new EndOfStreamException($"Connection closed after {filled} of {count} bytes.");
            }

            var take = Math.Min(count - filled, _end - _start);
            _buffer.AsSpan(_start, take).CopyTo(result.AsSpan(filled));
            _start += take;
            filled += take;
        }

        return result;
    }

    public async Task<byte[]> ReadLengthFrameAsync(TimeSpan? timeout = null)
    {
        var header = await ReadExactlyAsync(4, timeout);
        return await ReadExactlyAsync((int)BinaryPrimitives.ReadUInt32BigEndian(header), timeout);
    }

    public async Task<string> ReadLineAsync(TimeSpan? timeout = null)
    {
        var line = new List<byte>();
        while (true)
        {
            var b = (await ReadExactlyAsync(1, timeout))[0];
            if (b == (byte)'\n')
            {
                return Encoding.UTF8.GetString([.. line]);
            }

            line.Add(b);
        }
    }

    /// <summary>True once the server has closed the connection (EOF or reset), false if it is still open at the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        try
        {
            while (true)
            {
                _start = _end = 0;
                if (!await FillAsync(timeout))
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public void Dispose() => Socket.Dispose();

    private async Task<bool> FillAsync(TimeSpan? timeout)
    {
        using var cancel = new CancellationTokenSource(timeout ?? DefaultTimeout);
        if (_start == _end)
        {
            _start = _end = 0;
        }

        int read;
        try
        {
            read = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("No data from the server in time.");
        }

        _end += read;
        return read > 0;
    }
}
