using System.Globalization;
using System.Net;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// How many epoll instances of this process watch the TCP socket bound to a local end point, read from /proc: the
/// socket's inode from /proc/net/tcp(6), its descriptor from /proc/self/fd, and each epoll's watch list ("tfd:" lines
/// of its /proc/self/fdinfo).
/// </summary>
internal static class EpollRegistrations
{
    public static int Of(IPEndPoint local)
    {
        var descriptor = DescriptorOf(InodeOf(local.Port));
        var count = 0;
        foreach (var link in Directory.GetFiles("/proc/self/fd"))
        {
            if (ReadLink(link) != "anon_inode:[eventpoll]")
            {
                continue;
            }

            var info = TryRead($"/proc/self/fdinfo/{Path.GetFileName(link)}");
            count += info.Split('\n').Count(line => line.StartsWith("tfd:", StringComparison.Ordinal)
                && int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) == descriptor);
        }

        return count;
    }

    private static string InodeOf(int localPort)
    {
        var port = localPort.ToString("X4", CultureInfo.InvariantCulture);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields[1].EndsWith(":" + port, StringComparison.Ordinal) && fields[9] != "0")
                {
                    return fields[9];
                }
            }
        }

        throw new InvalidOperationException($"no TCP socket bound to local port {localPort}");
    }

    private static int DescriptorOf(string inode)
    {
        foreach (var link in Directory.GetFiles("/proc/self/fd"))
        {
            if (ReadLink(link) == $"socket:[{inode}]")
            {
                return int.Parse(Path.GetFileName(link), CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"no descriptor of this process is socket inode {inode}");
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null; // closed while listed
        }
    }

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
