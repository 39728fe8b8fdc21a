using System.Runtime.InteropServices;

namespace CbuffTcp;

/// <summary>
/// How many connections the process's descriptor limit (<c>ulimit -n</c>) leaves room for. A .NET process that runs
/// out of descriptors cannot start a thread (the runtime opens a pipe for each) or load an assembly, and aborts with
/// "Out of memory": so the server stops admitting connections while a reserve is still free, instead of finding out.
/// </summary>
internal static partial class DescriptorBudget
{
    private const int DescriptorsAssumedOpen = 64;

    /// <summary>The most connections the descriptor limit allows now, or null where there is no such limit to read.</summary>
    public static (int Ceiling, long SoftLimit, int Open)? ConnectionCeiling()
    {
        if (!TryReadSoftLimit(out var softLimit))
        {
            return null;
        }

        var open = CountOpenDescriptors();
        var reserve = (int)Math.Clamp(softLimit / 16, 32, 512);
        var ceiling = Math.Max(1, softLimit - open - reserve);
        return ((int)Math.Min(ceiling, int.MaxValue), softLimit, open);
    }

    private static bool TryReadSoftLimit(out long softLimit)
    {
        softLimit = 0;
        int resource;
        if (OperatingSystem.IsLinux())
        {
            resource = 7; // RLIMIT_NOFILE
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            resource = 8;
        }
        else
        {
            return false; // Windows: handles, not a small per-process table
        }

        if (GetResourceLimit(resource, out var limit) != 0 || limit.Current > long.MaxValue / 2)
        {
            return false; // unreadable, or unlimited
        }

        softLimit = (long)limit.Current;
        return true;
    }

    private static int CountOpenDescriptors()
    {
        try
        {
            var directory = OperatingSystem.IsLinux() ? "/proc/self/fd" : "/dev/fd";
            var count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries(directory))
            {
                count++; // counted by hand: Enumerable.Count would load System.Linq (0.7 MiB of RSS) for this alone
            }

            return count;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return DescriptorsAssumedOpen;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetResourceLimit(int resource, out ResourceLimit limit);
}
