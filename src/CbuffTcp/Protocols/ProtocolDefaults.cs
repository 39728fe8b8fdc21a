namespace CbuffTcp.Protocols;

internal static class ProtocolDefaults
{
    /// <summary>1 MiB: the default maximum frame size of every protocol (<see cref="IProtocol{TMessage}.MaxFrameSize"/>).</summary>
    public const int MaxFrameSize = 1024 * 1024;
}
