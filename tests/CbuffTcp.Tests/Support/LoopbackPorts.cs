using System.Net;
using System.Net.Sockets;

namespace CbuffTcp.Tests.Support;

/// <summary>Ports for the processes the tests start themselves (redis-server, HAProxy), which need one on their command line.</summary>
public static class LoopbackPorts
{
    /// <summary>A port free on 127.0.0.1 now: the kernel's pick for a socket bound to port 0, released at once.</summary>
    public static int Free()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
