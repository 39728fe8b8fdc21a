using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace CbuffTcp.ScaleOut;

/// <summary>
/// Sequence numbers per channel, both ways. A sender numbers what it publishes on each channel (every node, each
/// node, each group) from 1, counting the envelopes it could not publish too, so receivers see what they missed; a
/// receiver counts the numbers it never saw from each sender on each channel as gaps. Node ids are never reused, so a
/// sender's numbers only ever go up.
/// </summary>
internal sealed class ChannelSequences
{
    private readonly ConcurrentDictionary<long, StrongBox<long>> _sentToNode = new();
    private readonly ConcurrentDictionary<string, StrongBox<long>> _sentToGroup = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long Sender, string Channel), long> _received = new();
    private long _sentToAll;
    private long _gaps;

    /// <summary>Envelopes that senders numbered and this node never received, since it started.</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    public long Next(in BackplaneTarget target) => target.Kind switch
    {
        BackplaneTargetKind.AllNodes => Interlocked.Increment(ref _sentToAll),
        BackplaneTargetKind.Node => Interlocked.Increment(ref _sentToNode.GetOrAdd(target.NodeId, static _ => new StrongBox<long>()).Value),
        _ => Interlocked.Increment(ref _sentToGroup.GetOrAdd(target.Group!, static _ => new StrongBox<long>()).Value),
    };

    /// <summary>
    /// Records <paramref name="sequence"/> from <paramref name="sender"/> on <paramref name="channel"/> and counts the
    /// numbers skipped since the last one. The first envelope seen on a channel starts its count. Calls for one channel
    /// come one at a time (a backplane delivers each channel in order).
    /// </summary>
    public void Received(long sender, string channel, long sequence)
    {
        var key = (sender, channel);
        if (_received.TryGetValue(key, out var last) && sequence > last + 1)
        {
            Interlocked.Add(ref _gaps, sequence - last - 1);
        }

        if (sequence > last)
        {
            _received[key] = sequence;
        }
    }

    /// <summary>A group this node left: its count starts again when the node subscribes again.</summary>
    public void ForgetGroup(string group)
    {
        foreach (var key in _received.Keys)
        {
            if (key.Channel == group)
            {
                _received.TryRemove(key, out _);
            }
        }
    }
}
