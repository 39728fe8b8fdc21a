namespace CbuffTcp.ScaleOut;

/// <summary>What an envelope carries.</summary>
internal enum EnvelopeKind : byte
{
    /// <summary>Packed messages for every ready client but one (0: none).</summary>
    Broadcast = 1,

    /// <summary>Packed messages for the members of a group but one.</summary>
    Group = 2,

    /// <summary>Packed messages for one client, with a request id when the sender awaits the outcome.</summary>
    Direct = 3,

    /// <summary>Close one client, with a reason and a request id.</summary>
    Close = 4,

    /// <summary>The outcome of a direct send or a close, for the request id.</summary>
    Reply = 5,
}
