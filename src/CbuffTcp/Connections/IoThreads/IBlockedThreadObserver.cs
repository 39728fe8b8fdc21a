namespace CbuffTcp.Connections.IoThreads;

/// <summary>What the I/O threads' watchdog tells about a socket whose event an I/O thread has not finished handling.</summary>
internal interface IBlockedThreadObserver
{
    /// <summary>
    /// The I/O thread <paramref name="thread"/> has been inside this socket's event for <paramref name="stuckFor"/>.
    /// Returns true once it has reported the stall (the watchdog then stops asking until the thread moves on).
    /// </summary>
    bool OnThreadBlocked(string thread, TimeSpan stuckFor);
}
