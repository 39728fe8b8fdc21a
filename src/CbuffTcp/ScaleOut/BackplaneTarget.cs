namespace CbuffTcp.ScaleOut;

/// <summary>Where an envelope goes: every node, one node, or the nodes that hold members of a group.</summary>
public readonly record struct BackplaneTarget
{
    private BackplaneTarget(BackplaneTargetKind kind, long nodeId, string? group)
    {
        Kind = kind;
        NodeId = nodeId;
        Group = group;
    }

    /// <summary>Which kind of target this is.</summary>
    public BackplaneTargetKind Kind { get; }

    /// <summary>The node, for <see cref="BackplaneTargetKind.Node"/>.</summary>
    public long NodeId { get; }

    /// <summary>The group's name, for <see cref="BackplaneTargetKind.Group"/>.</summary>
    public string? Group { get; }

    /// <summary>Every node (each skips what it published itself).</summary>
    public static BackplaneTarget AllNodes { get; } = new(BackplaneTargetKind.AllNodes, 0, null);

    /// <summary>One node.</summary>
    public static BackplaneTarget Node(long nodeId) => new(BackplaneTargetKind.Node, nodeId, null);

    /// <summary>The nodes with a member of <paramref name="group"/>.</summary>
    public static BackplaneTarget ToGroup(string group) => new(BackplaneTargetKind.Group, 0, group);
}

/// <summary>The kinds of <see cref="BackplaneTarget"/>.</summary>
public enum BackplaneTargetKind
{
    /// <summary>Every node.</summary>
    AllNodes,

    /// <summary>One node.</summary>
    Node,

    /// <summary>The nodes with a member of a group.</summary>
    Group,
}
