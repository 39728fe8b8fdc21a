using System.Buffers;

namespace CbuffTcp;

/// <summary>
/// Sends for the built-in byte protocols (whose message type is <see cref="ReadOnlySequence{T}"/> of bytes) straight
/// from a <c>byte[]</c> or <see cref="ReadOnlyMemory{T}"/>: <c>server.SendToClient(id, "hi"u8.ToArray())</c>.
/// </summary>
public static class ByteMessageExtensions
{
    /// <summary>Sends <paramref name="message"/> to one client; see <see cref="TcpServer{TMessage}.SendToClient"/>.</summary>
    public static SendResult SendToClient(this TcpServer<ReadOnlySequence<byte>> server, long clientId, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.SendToClient(clientId, new ReadOnlySequence<byte>(message));
    }

    /// <summary>Sends <paramref name="message"/> to every client; see <see cref="TcpServer{TMessage}.SendToAllClients(in TMessage)"/>.</summary>
    public static BroadcastResult SendToAllClients(this TcpServer<ReadOnlySequence<byte>> server, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.SendToAllClients(new ReadOnlySequence<byte>(message));
    }

    /// <summary>Sends <paramref name="message"/> to every client but one; see <see cref="TcpServer{TMessage}.SendToAllClientsExcept(long, in TMessage)"/>.</summary>
    public static BroadcastResult SendToAllClientsExcept(this TcpServer<ReadOnlySequence<byte>> server, long clientId, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.SendToAllClientsExcept(clientId, new ReadOnlySequence<byte>(message));
    }

    /// <summary>Sends <paramref name="message"/> on this connection; see <see cref="TcpConnection{TMessage}.Send(in TMessage)"/>.</summary>
    public static SendResult Send(this TcpConnection<ReadOnlySequence<byte>> connection, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection.Send(new ReadOnlySequence<byte>(message));
    }

    /// <summary>Sends <paramref name="message"/> to the server; see <see cref="TcpClient{TMessage}.Send(in TMessage)"/>.</summary>
    public static SendResult Send(this TcpClient<ReadOnlySequence<byte>> client, ReadOnlyMemory<byte> message)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client.Send(new ReadOnlySequence<byte>(message));
    }
}
