using System.Collections.Concurrent;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// Collects exceptions of tasks nobody awaited (<see cref="TaskScheduler.UnobservedTaskException"/>): a fire-and-forget
/// loop that fails silently is a bug even when the test's own assertions pass.
/// </summary>
public static class UnobservedExceptions
{
    private static readonly ConcurrentQueue<Exception> Seen = new();
    private static int _watching;

    public static void EnsureWatching()
    {
        if (Interlocked.Exchange(ref _watching, 1) == 0)
        {
            TaskScheduler.UnobservedTaskException += (_, e) => Seen.Enqueue(e.Exception);
        }
    }

    /// <summary>Finalizes what is garbage now (unobserved exceptions surface on finalization) and asserts none was seen.</summary>
    public static void AssertNone()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.True(Seen.IsEmpty, $"unobserved task exceptions: {string.Join("\n", Seen)}");
    }
}
