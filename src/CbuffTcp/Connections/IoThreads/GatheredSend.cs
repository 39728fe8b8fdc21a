using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// One <c>sendmsg</c> for several arrays of a send queue: a write pass costs one system call, not one per array. The
/// arrays are pinned for the call by nested <c>fixed</c> statements (no handle, nothing allocated).
/// </summary>
internal static unsafe partial class GatheredSend
{
    /// <summary>The most arrays one call sends (each pinned one frame deeper); a pass with more takes several calls.</summary>
    public const int MaxSegments = 16;

    /// <summary>
    /// Sends from <paramref name="segments"/> (the first from <paramref name="firstOffset"/>) without blocking: the
    /// bytes sent, or -1 with the errno in <paramref name="errno"/>.
    /// </summary>
    public static long Send(SafeHandle socket, ReadOnlySpan<SendSegment> segments, int firstOffset, out int errno)
    {
        var vectors = stackalloc IoVector[MaxSegments];
        var added = false;
        socket.DangerousAddRef(ref added); // the descriptor stays this socket's for the call, even if it is closed meanwhile
        try
        {
            return PinAndSend((int)socket.DangerousGetHandle(), segments[..Math.Min(segments.Length, MaxSegments)], firstOffset, vectors, 0, out errno);
        }
        finally
        {
            socket.DangerousRelease();
        }
    }

    private static long PinAndSend(int fd, ReadOnlySpan<SendSegment> segments, int firstOffset, IoVector* vectors, int index, out int errno)
    {
        if (index == segments.Length)
        {
            var header = new MessageHeader { Vectors = vectors, VectorCount = (nuint)segments.Length };
            var sent = SendMessage(fd, &header, SocketCalls.NoSignal | SocketCalls.DontWait);
            errno = sent < 0 ? Marshal.GetLastPInvokeError() : 0;
            return sent;
        }

        var offset = index == 0 ? firstOffset : 0;
        fixed (byte* array = segments[index].Array)
        {
            vectors[index] = new IoVector { Base = array + offset, Length = (nuint)(segments[index].Length - offset) };
            return PinAndSend(fd, segments, firstOffset, vectors, index + 1, out errno);
        }
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMessage(int fd, MessageHeader* header, int flags);

    /// <summary><c>struct iovec</c>.</summary>
    private struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c> of glibc on 64-bit Linux (x86-64 and Arm64 alike).</summary>
    private struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }
}
