using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// An accepted socket's descriptor, taken over from its runtime <see cref="Socket"/>: the I/O threads call the kernel
/// directly, so the <see cref="Socket"/> (112 bytes) and its <see cref="SafeSocketHandle"/> (64) would only sit in every
/// connection. This owns the descriptor from then on and ends it as the runtime's would: <see cref="Shutdown"/> is a
/// FIN, <see cref="Reset"/> an RST, and disposing closes it (a FIN if nothing reset it, as <c>Socket.Dispose</c> does).
/// </summary>
internal sealed partial class SocketDescriptor : SafeHandle
{
    private const int SolSocket = 1;
    private const int SoLinger = 13;
    private const int ShutRdWr = 2;

    private SocketDescriptor(IntPtr descriptor)
        : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(descriptor);

    public override bool IsInvalid => handle == -1;

    /// <summary>
    /// Takes <paramref name="socket"/>'s descriptor: its handle is marked invalid (so nothing of the runtime's closes
    /// the descriptor later) and the socket is done with; use no member of it afterwards.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA1816", Justification = "The socket's finalizer, not ours: it would only find its handle closed, after a trip through the finalizer queue.")]
    public static SocketDescriptor TakeFrom(Socket socket)
    {
        var runtimeHandle = socket.SafeHandle;
        var descriptor = new SocketDescriptor(runtimeHandle.DangerousGetHandle());
        runtimeHandle.SetHandleAsInvalid();
        GC.SuppressFinalize(socket); // its finalizer has nothing left to close
        return descriptor;
    }

    /// <summary>The descriptor, for the loop's epoll registration.</summary>
    public int Value => (int)handle;

    /// <summary>FIN in both directions; also ends a pending read (epoll reports the hang-up). Nothing if already closed.</summary>
    public unsafe void Shutdown() => CallWhileOpen(&ShutdownBoth);

    /// <summary>RST and close: linger 0 makes the close reset the connection instead of flushing.</summary>
    public unsafe void Reset()
    {
        CallWhileOpen(&LingerZero); // closed already: disposing is all that is left
        Dispose();
    }

    /// <summary>
    /// Calls <paramref name="call"/> with the descriptor while this holds a reference to it, so a close on another
    /// thread cannot free the number (for the kernel to give to a new socket) in between; nothing once it is closed.
    /// </summary>
    private unsafe void CallWhileOpen(delegate*<int, int> call)
    {
        var added = false;
        try
        {
            DangerousAddRef(ref added);
            _ = call(Value); // the kernel's answer changes nothing here: after a reset there is nothing left to end
        }
        catch (ObjectDisposedException)
        {
            // Closed already.
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    private static int ShutdownBoth(int fd) => ShutdownCall(fd, ShutRdWr);

    private static unsafe int LingerZero(int fd)
    {
        var linger = stackalloc int[2] { 1, 0 }; // struct linger { l_onoff = 1, l_linger = 0 }
        return SetSocketOption(fd, SolSocket, SoLinger, linger, 2 * sizeof(int));
    }

    protected override bool ReleaseHandle() => CloseCall((int)handle) == 0;

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownCall(int fd, int how);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static unsafe partial int SetSocketOption(int fd, int level, int name, int* value, uint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseCall(int fd);
}
