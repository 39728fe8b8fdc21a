using System.Net.Sockets;

namespace CbuffTcp.Connections;

/// <summary>The two deliberate ways a socket ends: FIN after output is flushed, or RST that drops what is unsent.</summary>
internal static class SocketClosing
{
    /// <summary>FIN in both directions; also ends a pending receive. The socket stays to be disposed by its owner.</summary>
    public static void Shutdown(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already reset or disposed: nothing is left to shut down.
        }
    }

    /// <summary>RST and dispose: linger 0 makes the close reset the connection instead of flushing.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already reset or disposed: disposing is all that is left.
        }

        socket.Dispose();
    }
}
