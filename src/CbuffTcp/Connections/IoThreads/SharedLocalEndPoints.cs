using System.Collections.Concurrent;
using System.Net;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// One instance per local endpoint for the sockets the I/O threads serve. On a listener bound to a wildcard address
/// (0.0.0.0, [::]), the runtime asks the kernel for each accepted socket's local endpoint and makes an object of its
/// own for it (an <see cref="IPEndPoint"/> and its <see cref="IPAddress"/>, 72 bytes), though they all name one of a
/// few local addresses and the listening port: memory that every idle connection would hold.
/// </summary>
internal static class SharedLocalEndPoints
{
    // Local addresses times listening ports: a handful in practice. Past this, each socket keeps its own.
    internal const int MaxShared = 256;

    private static readonly ConcurrentDictionary<EndPoint, EndPoint> Shared = new();
    private static int _count;

    /// <summary>The shared instance equal to <paramref name="endPoint"/> (which becomes it, if it is the first).</summary>
    public static EndPoint? Of(EndPoint? endPoint)
    {
        if (endPoint is null)
        {
            return null;
        }

        if (Shared.TryGetValue(endPoint, out var shared))
        {
            return shared;
        }

        if (Volatile.Read(ref _count) >= MaxShared)
        {
            return endPoint;
        }

        shared = Shared.GetOrAdd(endPoint, endPoint);
        if (ReferenceEquals(shared, endPoint))
        {
            Interlocked.Increment(ref _count);
        }

        return shared;
    }
}
