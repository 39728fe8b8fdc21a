using System.Collections.Concurrent;

namespace CbuffTcp;

/// <summary>
/// The groups of a server's own clients. Sends read a group's members lock-free (an array replaced on each change);
/// joins and leaves, rare next to sends, take one lock. The first local member of a group and the last one to leave
/// tell the caller, so a backplane listens to a group's channel only while this node has members in it.
/// </summary>
internal sealed class GroupRegistry<TMessage>
{
    private readonly ConcurrentDictionary<string, TcpConnection<TMessage>[]> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<long, List<string>> _groupsOf = [];
    private readonly Lock _lock = new();

    /// <summary>The group's local members now (an array never modified after it is returned).</summary>
    public TcpConnection<TMessage>[] MembersOf(string group) => _members.TryGetValue(group, out var members) ? members : [];

    /// <summary>The groups a connection is in.</summary>
    public string[] GroupsOf(TcpConnection<TMessage> connection)
    {
        lock (_lock)
        {
            return _groupsOf.TryGetValue(connection.Id, out var groups) ? [.. groups] : [];
        }
    }

    /// <summary>Adds the connection; false if it was a member already. <paramref name="first"/>: the group had no local member.</summary>
    public bool Join(TcpConnection<TMessage> connection, string group, out bool first)
    {
        lock (_lock)
        {
            var members = MembersOf(group);
            first = members.Length == 0;
            if (Array.IndexOf(members, connection) >= 0)
            {
                return false;
            }

            _members[group] = [.. members, connection];
            if (!_groupsOf.TryGetValue(connection.Id, out var groups))
            {
                _groupsOf[connection.Id] = groups = [];
            }

            groups.Add(group);
            return true;
        }
    }

    /// <summary>Removes the connection; false if it was not a member. <paramref name="last"/>: no local member is left.</summary>
    public bool Leave(TcpConnection<TMessage> connection, string group, out bool last)
    {
        lock (_lock)
        {
            last = false;
            if (!_groupsOf.TryGetValue(connection.Id, out var groups) || !groups.Remove(group))
            {
                return false;
            }

            if (groups.Count == 0)
            {
                _groupsOf.Remove(connection.Id);
            }

            last = RemoveMember(connection, group);
            return true;
        }
    }

    /// <summary>Removes the connection from every group it is in; returns the groups it left empty.</summary>
    public List<string>? LeaveAll(TcpConnection<TMessage> connection)
    {
        lock (_lock)
        {
            if (!_groupsOf.Remove(connection.Id, out var groups))
            {
                return null;
            }

            List<string>? emptied = null;
            foreach (var group in groups)
            {
                if (RemoveMember(connection, group))
                {
                    (emptied ??= []).Add(group);
                }
            }

            return emptied;
        }
    }

    private bool RemoveMember(TcpConnection<TMessage> connection, string group)
    {
        var remaining = MembersOf(group).Where(member => member != connection).ToArray();
        if (remaining.Length == 0)
        {
            _members.TryRemove(group, out _);
            return true;
        }

        _members[group] = remaining;
        return false;
    }
}
