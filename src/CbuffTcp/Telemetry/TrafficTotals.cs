namespace CbuffTcp.Telemetry;

/// <summary>Messages and bytes a set of connections received and sent.</summary>
internal record struct TrafficTotals(long MessagesReceived, long BytesReceived, long MessagesSent, long BytesSent)
{
    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(
        a.MessagesReceived + b.MessagesReceived,
        a.BytesReceived + b.BytesReceived,
        a.MessagesSent + b.MessagesSent,
        a.BytesSent + b.BytesSent);
}
