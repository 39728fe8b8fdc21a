using System.Net;
using CbuffTcp.Connections.IoThreads;

namespace CbuffTcp.Tests.Server;

/// <summary>
/// Accepted sockets on a wildcard listener each get a local endpoint object of their own from the runtime; the I/O
/// threads keep one per distinct endpoint instead (72 bytes per idle connection: a heap dump of 10,000 connections to
/// `cbuff serve --host 0.0.0.0` held 20,002 endpoints before, 10,003 after). Tests bind 127.0.0.1 only, where the runtime
/// shares the listener's endpoint already, so the sharing itself is tested here.
/// </summary>
public class SharedLocalEndPointsTests
{
    [Fact]
    public void Equal_local_endpoints_come_back_as_one_instance_and_different_ones_stay_apart()
    {
        var port = Random.Shared.Next(1, 1024); // objects only: no socket is bound
        var first = new IPEndPoint(IPAddress.Parse("127.0.0.1"), port);
        var again = new IPEndPoint(IPAddress.Parse("127.0.0.1"), port);
        var otherPort = new IPEndPoint(IPAddress.Parse("127.0.0.1"), port + 1);

        var shared = SharedLocalEndPoints.Of(first);
        Assert.Same(shared, SharedLocalEndPoints.Of(again));
        Assert.Equal(first, shared);
        Assert.NotSame(shared, SharedLocalEndPoints.Of(otherPort));
        Assert.Equal(otherPort, SharedLocalEndPoints.Of(otherPort));
        Assert.Null(SharedLocalEndPoints.Of(null));
    }
}
