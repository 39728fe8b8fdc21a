using System.Buffers;

namespace CbuffTcp.Cli;

/// <summary>The handler behind <c>cbuff serve</c>: echo, broadcast, or a chat room.</summary>
internal sealed class ServeHandler(ServeMode mode, ServeLog log) : TcpHandler<ReadOnlySequence<byte>>
{
    private readonly ChatRoom? _chat = mode == ServeMode.Chat ? new ChatRoom() : null;

    public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
    {
        log.Connected(connection.Id, connection.RemoteEndPoint);
        return _chat?.JoinAsync(connection) ?? ValueTask.CompletedTask;
    }

    public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages) =>
        mode == ServeMode.Chat ? ChatAsync(connection, messages) : Relay(connection, messages);

    private async ValueTask ChatAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            await _chat!.SayAsync(connection, message).ConfigureAwait(false);
        }
    }

    private ValueTask Relay(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        if (mode == ServeMode.Broadcast)
        {
            connection.Server!.SendToAllClients(messages.AsSpan()); // the whole batch to each client at once (every node's, in a cluster)
            return ValueTask.CompletedTask;
        }

        foreach (var message in messages)
        {
            connection.Send(message); // one by one: a large reply joins the queue without a copy
        }

        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDisconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
    {
        log.Disconnected(connection.Id, reason);
        _chat?.Leave(connection, reason);
        return ValueTask.CompletedTask;
    }

    public override void OnError(string message, Exception? exception) => log.Info($"error: {message}");

    public override void OnConnectionError(TcpConnection<ReadOnlySequence<byte>> connection, string message, Exception? exception) =>
        log.Info($"client {connection.Id} error: {message}");
}
