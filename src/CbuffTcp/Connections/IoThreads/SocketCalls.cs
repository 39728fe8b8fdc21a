using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// <c>recv</c> and <c>send</c> with <c>MSG_DONTWAIT</c> on an I/O thread's socket: non-blocking per call, so the socket
/// itself stays in blocking mode and the runtime never builds the <c>SocketAsyncContext</c> it makes for a
/// non-blocking <see cref="Socket"/> (152 bytes per connection, and CbuffTcp's epoll never uses it).
/// </summary>
internal static unsafe partial class SocketCalls
{
    /// <summary><c>EAGAIN</c>/<c>EWOULDBLOCK</c> on Linux: nothing to read, or the send buffer is full.</summary>
    public const int WouldBlock = 11;

    /// <summary><c>EINTR</c>: a signal came first; try again.</summary>
    public const int Interrupted = 4;

    /// <summary><c>MSG_NOSIGNAL</c>: a reset peer is an error, not a SIGPIPE.</summary>
    public const int NoSignal = 0x4000;

    /// <summary><c>MSG_DONTWAIT</c>: this call does not block, whatever the socket's mode.</summary>
    public const int DontWait = 0x40;

    /// <summary>Reads what is there into <paramref name="buffer"/>: the bytes read (0 at the end of the stream), or -1 with <paramref name="error"/>.</summary>
    public static int Receive(SafeHandle socket, Span<byte> buffer, out SocketError error)
    {
        fixed (byte* bytes = buffer)
        {
            return Call(&Recv, socket, bytes, buffer.Length, DontWait, out error);
        }
    }

    /// <summary>Sends what the socket's buffer takes of <paramref name="buffer"/>: the bytes sent, or -1 with <paramref name="error"/>.</summary>
    public static int Send(SafeHandle socket, ReadOnlySpan<byte> buffer, out SocketError error)
    {
        fixed (byte* bytes = buffer)
        {
            return Call(&SendTo, socket, bytes, buffer.Length, DontWait | NoSignal, out error);
        }
    }

    /// <summary>One <c>recv</c> or <c>send</c>, again after a signal; the descriptor stays this socket's for the call, even if it is closed meanwhile.</summary>
    private static int Call(delegate*<int, byte*, nuint, int, nint> call, SafeHandle socket, byte* bytes, int length, int flags, out SocketError error)
    {
        var added = false;
        socket.DangerousAddRef(ref added);
        try
        {
            nint result;
            do
            {
                result = call((int)socket.DangerousGetHandle(), bytes, (nuint)length, flags);
            }
            while (result < 0 && Marshal.GetLastPInvokeError() == Interrupted);

            error = result < 0 ? ErrorOf(Marshal.GetLastPInvokeError()) : SocketError.Success;
            return (int)result;
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    /// <summary>The runtime's name for a Linux errno of a socket call, as its own <see cref="Socket"/> would report it.</summary>
    public static SocketError ErrorOf(int errno) => errno switch
    {
        WouldBlock => SocketError.WouldBlock,
        104 => SocketError.ConnectionReset,       // ECONNRESET
        32 => SocketError.Shutdown,               // EPIPE
        103 => SocketError.ConnectionAborted,     // ECONNABORTED
        110 => SocketError.TimedOut,              // ETIMEDOUT
        107 => SocketError.NotConnected,          // ENOTCONN
        113 => SocketError.HostUnreachable,       // EHOSTUNREACH
        101 => SocketError.NetworkUnreachable,    // ENETUNREACH
        100 => SocketError.NetworkDown,           // ENETDOWN
        102 => SocketError.NetworkReset,          // ENETRESET
        105 or 12 => SocketError.NoBufferSpaceAvailable, // ENOBUFS, ENOMEM
        9 or 88 => SocketError.NotSocket,         // EBADF, ENOTSOCK
        _ => SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendTo(int fd, byte* buffer, nuint length, int flags);
}
