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
    public static bool IsAvailable => EpollInterop.IsSupported && s_loops.Value is not null;

    /// <summary>The loop for the next socket: round robin over the threads. Only when <see cref="IsAvailable"/>.</summary>
    public static IoLoop Next()
    {
        var loops = s_loops.Value!;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    private static IoLoop[]? Start()
    {
        try
        {
            return [.. Enumerable.Range(0, Environment.ProcessorCount).Select(static i => new IoLoop(i, IoSpinWindow.Configured))];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // out of descriptors (or epoll refused): the thread pool serves instead, for this process
        }
    }
}
