using System.Runtime.CompilerServices;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// The I/O mode every server, client and <c>cbuff serve</c> process of this test assembly uses: the thread pool in
/// CbuffTcp.Tests, CbuffTcp's I/O threads in CbuffTcp.Tests.IoThreads (the same tests, compiled with IO_THREADS).
/// </summary>
internal static class IoModeUnderTest
{
#if IO_THREADS
    public const IoMode Mode = IoMode.IoThreads;
#else
    public const IoMode Mode = IoMode.ThreadPool;
#endif

    /// <summary>The arguments that select this mode in <c>cbuff serve</c>.</summary>
    public static string[] ServeArguments => Mode == IoMode.IoThreads ? ["--io", "iothreads"] : [];

    [ModuleInitializer]
    internal static void Apply() => TcpConnectionOptions.DefaultIoMode = Mode;
}
