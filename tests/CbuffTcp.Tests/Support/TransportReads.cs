using CbuffTcp.Connections;

namespace CbuffTcp.Tests.Support;

/// <summary>Reads from a socket transport, whose receive never waits: it must have completed when it returns.</summary>
internal static class TransportReads
{
    /// <summary>The bytes read, 0 at the end of the stream, or <see cref="ConnectionTransport.NothingYet"/>.</summary>
    public static int Now(ConnectionTransport transport, Memory<byte> buffer)
    {
        var receiving = transport.ReceiveAsync(buffer).AsTask();
        Assert.True(receiving.IsCompleted, "a socket transport's receive waited");
        return receiving.Result;
    }
}
