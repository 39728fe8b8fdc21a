using System.Runtime.CompilerServices;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// The I/O mode every server, client and <c>cbuff serve</c> process of this test assembly uses: the default
/// (<see cref="IoMode.Auto"/>, CbuffTcp's I/O threads on Linux) in CbuffTcp.Tests, the thread pool in
/// CbuffTcp.Tests.ThreadPool (the same tests, compiled with THREAD_POOL).
/// </summary>
internal static class IoModeUnderTest
{
#if THREAD_POOL
    public const IoMode Mode = IoMode.ThreadPool;
#else
    public const IoMode Mode = IoMode.Auto;
#endif

    /// <summary>The arguments that select this mode in <c>cbuff serve</c>.</summary>
    public static string[] ServeArguments => Mode == IoMode.ThreadPool ? ["--io", "threadpool"] : [];

#if THREAD_POOL
    [ModuleInitializer]
    internal static void Apply() => TcpConnectionOptions.DefaultIoMode = Mode;
#endif
}
