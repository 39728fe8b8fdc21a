using System.Buffers;

namespace CbuffTcp.Cli;

/// <summary>The handler behind <c>cbuff serve</c>: echo, broadcast, or a chat room.</summary>
internal sealed class ServeHandler(ServeMode mode, ServeLog log) : TcpHandler<ReadOnlySequence<byte>>
{
    private readonly ChatRoom? _chat = mode == ServeMode.Chat ? new ChatRoom() : null;

    public override ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
    {
        log.Info($"client {connection.Id} connected from {connection.RemoteEndPoint}");
        _chat?.Join(connection);
        return ValueTask.CompletedTask;
    }

    public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        switch (mode)
        {
            case ServeMode.Broadcast:
                connection.Server!.SendToAllClients(messages.AsSpan()); // the whole batch to each client at once
                break;
            case ServeMode.Echo:
                foreach (var message in messages)
                {
                    connection.Send(message); // one by one: a large reply joins the queue without a copy
                }

                break;
            default:
                foreach (var message in messages)
                {
                    _chat!.Say(connection, message);
                }

                break;
        }

        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDisconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
    {
        log.Info($"client {connection.Id} disconnected: {reason}");
        _chat?.Leave(connection, reason);
        return ValueTask.CompletedTask;
    }

    public override void OnError(string message, Exception? exception) => log.Info($"error: {message}");

    public override void OnConnectionError(TcpConnection<ReadOnlySequence<byte>> connection, string message, Exception? exception) =>
        log.Info($"client {connection.Id} error: {message}");
}
