using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>The few Linux calls the I/O threads need: an epoll instance, its registrations, and the wait.</summary>
internal static unsafe partial class EpollInterop
{
    public const int EpollCloexec = 0x80000;
    public const int CtlAdd = 1;
    public const int CtlDel = 2;
    public const uint In = 0x001;
    public const uint Out = 0x004;
    public const uint Err = 0x008;
    public const uint Hup = 0x010;
    public const uint ReadHup = 0x2000;
    public const uint EdgeTriggered = 1u << 31;
    public const int EINTR = 4;

    /// <summary>
    /// Size of <c>struct epoll_event</c>: a 32-bit event mask then 64 bits of user data, packed on x86-64 (12 bytes),
    /// naturally aligned elsewhere (16 bytes, data at offset 8).
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Offset of the user data in <c>struct epoll_event</c>.</summary>
    public static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>Linux on the two architectures whose <c>epoll_event</c> layout is known here.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int Create(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int Control(int epoll, int operation, int fd, byte* epollEvent);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int Wait(int epoll, byte* events, int maxEvents, int timeoutMilliseconds);

    /// <summary>Registers <paramref name="fd"/> for <paramref name="events"/>, tagged with <paramref name="data"/>; returns 0 or -1 (errno set).</summary>
    public static int Add(int epoll, int fd, uint events, ulong data)
    {
        var buffer = stackalloc byte[16];
        *(uint*)buffer = events;
        *(ulong*)(buffer + DataOffset) = data;
        return Control(epoll, CtlAdd, fd, buffer);
    }

    public static uint EventsAt(byte* events, int index) => *(uint*)(events + (index * EventSize));

    public static ulong DataAt(byte* events, int index) => *(ulong*)(events + (index * EventSize) + DataOffset);
}
