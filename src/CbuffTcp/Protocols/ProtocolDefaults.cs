namespace CbuffTcp.Protocols;

internal static class ProtocolDefaults
{
    /// <summary>1 MiB: the default maximum frame size of every built-in protocol, and of <see cref="TcpConnectionOptions.MaxFrameSize"/>.</summary>
    public const int MaxFrameSize = 1024 * 1024;
}
