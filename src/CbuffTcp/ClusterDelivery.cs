namespace CbuffTcp;

/// <summary>Whether a broadcast or group send went to the other nodes of a cluster too.</summary>
public enum ClusterDelivery
{
    /// <summary>The server has no backplane: local clients only.</summary>
    None = 0,

    /// <summary>Published once to the backplane for the other nodes' clients.</summary>
    Published = 1,

    /// <summary>The backplane is not connected now: local clients got it, the other nodes' clients did not.</summary>
    Unavailable = 2,
}
