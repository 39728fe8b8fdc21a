namespace CbuffTcp.Connections;

/// <summary>
/// One small read buffer per thread. A receive loop reads into it synchronously (data is known to be there) and copies
/// out what arrived before it awaits anything, so no connection ever holds it.
/// </summary>
internal static class ReceiveScratch
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    public static byte[] Buffer => t_buffer ??= new byte[ConnectionSettings.MinReadSize];
}
