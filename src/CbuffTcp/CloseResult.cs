namespace CbuffTcp;

/// <summary>What happened to a request to close one client (<c>CloseClient</c>). Closes never throw and never block.</summary>
public enum CloseResult
{
    /// <summary>The client is connected to this node and is closing (or was closing already).</summary>
    Closed = 0,

    /// <summary>No client has that id (on this node, or its node is no longer alive).</summary>
    NotFound = 1,

    /// <summary>The client belongs to another live node; the request went to it through the backplane.</summary>
    Forwarded = 2,

    /// <summary>The client belongs to another node and the backplane is not connected now: nothing was sent.</summary>
    BackplaneUnavailable = 3,
}
