namespace CbuffTcp.Testing;

/// <summary>How the server ended a connection, as its peer saw it.</summary>
public enum ConnectionEnd
{
    /// <summary>A graceful close: everything sent arrived, then the end of the stream (FIN).</summary>
    Closed,

    /// <summary>A reset (RST): the connection ended at once, and what was in flight was dropped.</summary>
    Reset,
}
