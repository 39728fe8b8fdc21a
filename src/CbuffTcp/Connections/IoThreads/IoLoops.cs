namespace CbuffTcp.Connections.IoThreads;

/// <summary>The process's I/O threads: one per core, started on first use, shared by every server and client.</summary>
internal static class IoLoops
{
    private static readonly Lazy<IoLoop[]> s_loops = new(static () =>
        [.. Enumerable.Range(0, Environment.ProcessorCount).Select(static i => new IoLoop(i))]);

    private static int s_next;

    /// <summary>Whether this platform has the I/O threads (Linux on x86-64 or Arm64); elsewhere connections use the thread pool.</summary>
    public static bool IsSupported => EpollInterop.IsSupported;

    /// <summary>The loop for the next socket: round robin over the threads.</summary>
    public static IoLoop Next()
    {
        var loops = s_loops.Value;
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }
}
