namespace CbuffTcp;

public sealed partial class TcpServer<TMessage>
{
    /// <summary>The longest group name, in characters.</summary>
    public const int MaxGroupNameLength = 200;

    /// <summary>
    /// Packs <paramref name="message"/> once and queues it for every member of <paramref name="group"/>
    /// (<see cref="TcpConnection{TMessage}.JoinGroup"/>): this node's members first, then, with a backplane, one
    /// publish that reaches only the nodes with members. Members whose <c>OnConnectedAsync</c> has not completed are
    /// skipped, as in a broadcast. An unknown or empty group queues nothing.
    /// </summary>
    public BroadcastResult SendToGroup(string group, in TMessage message) => SendToGroup(group, new ReadOnlySpan<TMessage>(in message), exceptClientId: 0);

    /// <summary>Like <see cref="SendToGroup(string, in TMessage)"/>, but skips one client (typically the sender).</summary>
    public BroadcastResult SendToGroupExcept(string group, long clientId, in TMessage message) => SendToGroup(group, new ReadOnlySpan<TMessage>(in message), clientId);

    /// <summary>Like <see cref="SendToGroup(string, in TMessage)"/> for a batch: each member's queue takes all of them or none.</summary>
    public BroadcastResult SendToGroup(string group, ReadOnlySpan<TMessage> messages) => SendToGroup(group, messages, exceptClientId: 0);

    /// <summary>Like <see cref="SendToGroup(string, ReadOnlySpan{TMessage})"/>, but skips one client (typically the sender).</summary>
    public BroadcastResult SendToGroupExcept(string group, long clientId, ReadOnlySpan<TMessage> messages) => SendToGroup(group, messages, clientId);

    /// <summary>This node's members of <paramref name="group"/> now (a snapshot).</summary>
    public IReadOnlyList<TcpConnection<TMessage>> GetGroupMembers(string group)
    {
        ValidateGroupName(group);
        return _groups.MembersOf(group);
    }

    internal bool JoinGroup(TcpConnection<TMessage> connection, string group)
    {
        ValidateGroupName(group);
        if (connection.IsClosing || !_groups.Join(connection, group, out var first))
        {
            return false;
        }

        if (first)
        {
            _cluster?.SubscribeGroup(group);
        }

        if (connection.IsClosing)
        {
            // Its close may have left its groups before this join: leave this one too, or it would stay a member.
            LeaveGroup(connection, group);
            return false;
        }

        return true;
    }

    internal bool LeaveGroup(TcpConnection<TMessage> connection, string group)
    {
        ValidateGroupName(group);
        if (!_groups.Leave(connection, group, out var last))
        {
            return false;
        }

        if (last)
        {
            _cluster?.UnsubscribeGroup(group);
        }

        return true;
    }

    internal IReadOnlyList<string> GroupsOf(TcpConnection<TMessage> connection) => _groups.GroupsOf(connection);

    /// <summary>A closing client leaves its groups; the backplane stops listening to those it left empty.</summary>
    private void LeaveAllGroups(TcpConnection<TMessage> connection)
    {
        if (_groups.LeaveAll(connection) is { } emptied && _cluster is { } cluster)
        {
            foreach (var group in emptied)
            {
                cluster.UnsubscribeGroup(group);
            }
        }
    }

    private BroadcastResult SendToGroup(string group, ReadOnlySpan<TMessage> messages, long exceptClientId)
    {
        ValidateGroupName(group);
        return Broadcast(messages, new BroadcastTally(_groups.MembersOf(group), exceptClientId, _cluster, group));
    }

    private static void ValidateGroupName(string group)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        if (group.Length > MaxGroupNameLength || char.IsControl(group[0]))
        {
            throw new ArgumentException($"A group name is 1 to {MaxGroupNameLength} characters and does not start with a control character.", nameof(group));
        }
    }
}
