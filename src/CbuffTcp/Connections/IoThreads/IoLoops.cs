namespace CbuffTcp.Connections.IoThreads;

/// <summary>The process's I/O threads: one per core, started on first use, shared by every server and client.</summary>
internal static class IoLoops
{
    private static readonly Lazy<IoLoop[]?> s_loops = new(Start);

    private static int s_next;

    /// <summary>
    /// Whether connections can use the I/O threads: Linux on x86-64 or Arm64, and the threads started (creating an
    /// epoll instance needs a descriptor; without one, connections stay on the thread pool rather than fail).
    /// </summary>
    public static bool IsAvailable => s_loops.Value is not null;

    /// <summary>The loop for the next socket: round robin over the threads. Only when <see cref="IsAvailable"/>.</summary>
    public static IoLoop Next()
    {
        var loops = s_loops.Value!;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    /// <summary>Why the I/O threads are not available, when they are not; for the warning a server logs at start.</summary>
    public static string Unavailability => !EpollInterop.IsSupported
        ? $"CbuffTcp's I/O threads run on Linux x64 and Arm64, not {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}"
        : StartFailure is { } failure ? $"starting them failed: {failure.Message}" : "they are running";

    /// <summary>Watches the threads for handlers that block them; null until they start.</summary>
    public static IoThreadWatchdog? Watchdog { get; private set; }

    /// <summary>What starting the I/O threads threw, if it did.</summary>
    public static Exception? StartFailure { get; private set; }

    private static IoLoop[]? Start()
    {
        if (!EpollInterop.IsSupported)
        {
            return null;
        }

        try
        {
            var loops = new IoLoop[Environment.ProcessorCount]; // a loop, not Enumerable: System.Linq stays unloaded
            for (var i = 0; i < loops.Length; i++)
            {
                loops[i] = new IoLoop(i, IoSpinWindow.Configured);
            }

            Watchdog = new IoThreadWatchdog(loops);
            return loops;
        }
        catch (Exception ex)
        {
            // Out of descriptors, epoll refused, a thread that would not start: whatever it was, the thread pool
            // serves instead, for this process, and every server says so once at its start (a cached exception
            // rethrown from every admission would refuse every client).
            StartFailure = ex;
            return null;
        }
    }
}
