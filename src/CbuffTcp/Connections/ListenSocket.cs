using System.Net;
using System.Net.Sockets;

namespace CbuffTcp.Connections;

/// <summary>Binds the listening socket: TCP on an IP address, or a Unix domain socket on a path.</summary>
internal static partial class ListenSocket
{
    public static Socket Bind(EndPoint endPoint, int backlog)
    {
        var unix = endPoint as UnixDomainSocketEndPoint;
        var listener = unix is null
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (endPoint is IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip && ip.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }

            if (unix is not null)
            {
                RemoveStaleSocketFile(unix);
            }

            // No ReuseAddress: on Linux .NET maps it to SO_REUSEPORT too, which would let a second server share the
            // port silently. .NET already sets SO_REUSEADDR on Unix, so a restart still binds past TIME_WAIT.
            listener.Bind(endPoint);
            listener.Listen(backlog);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>The socket file of a Unix listener, to remove when the server stops; null for TCP or an abstract name.</summary>
    public static string? SocketFileOf(EndPoint? endPoint) =>
        endPoint is UnixDomainSocketEndPoint unix && unix.ToString() is { Length: > 0 } path && path[0] != '\0' && path[0] != '@' ? path : null;

    /// <summary>
    /// A socket file left by a server that crashed makes bind fail with "address in use" although nothing listens: one
    /// that refuses a connection is removed; one that accepts belongs to a live server, which is an error; a file that
    /// is not a socket is never touched.
    /// </summary>
    private static void RemoveStaleSocketFile(UnixDomainSocketEndPoint endPoint)
    {
        if (SocketFileOf(endPoint) is not { } path || !File.Exists(path))
        {
            return;
        }

        if (!IsSocketFile(path))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse, $"{path} exists and is not a socket: not removing it.");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path); // nothing listens: the file outlived its server
            return;
        }

        throw new SocketException((int)SocketError.AddressAlreadyInUse, $"another server is listening on {path}.");
    }

    /// <summary>
    /// Whether <paramref name="path"/> is a socket (not following a link). .NET tells no file types past directories
    /// and links, so this asks the runtime's own native library (its lstat, whose mode keeps POSIX's type bits).
    /// </summary>
    private static unsafe bool IsSocketFile(string path)
    {
        const int TypeMask = 0xF000, Socket = 0xC000;
        var status = stackalloc byte[512]; // FileStatus is about 150 bytes; its mode is the second 32-bit field
        try
        {
            return FileStatus.LStat(path, status) == 0 && (((int*)status)[1] & TypeMask) == Socket;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // cannot tell: never remove what may not be a socket
        }
    }

    private static unsafe partial class FileStatus
    {
        [System.Runtime.InteropServices.LibraryImport("libSystem.Native", EntryPoint = "SystemNative_LStat", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
        public static partial int LStat(string path, byte* status);
    }
}
