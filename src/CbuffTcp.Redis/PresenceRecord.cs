using System.Globalization;
using CbuffTcp.ScaleOut;

namespace CbuffTcp.Redis;

/// <summary>A node's presence as stored in Redis: its client count, end point and metadata, one per line (metadata last, so it may hold newlines).</summary>
internal static class PresenceRecord
{
    public static string Write(in NodePresence presence) =>
        string.Create(CultureInfo.InvariantCulture, $"{presence.ClientCount}\n{presence.EndPoint}\n{presence.Metadata}");

    public static ClusterNode? Read(long nodeId, string? text)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split('\n', 3);
        if (parts.Length < 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var clients))
        {
            return null;
        }

        return new ClusterNode(nodeId, clients, parts[1].Length == 0 ? null : parts[1], parts[2].Length == 0 ? null : parts[2]);
    }
}
