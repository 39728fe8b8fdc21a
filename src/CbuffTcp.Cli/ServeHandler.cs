using System.Buffers;

namespace CbuffTcp.Cli;

/// <summary>The handler behind <c>cbuff serve</c>: echo, broadcast, or a chat room.</summary>
internal sealed class ServeHandler(ServeMode mode, ServeLog log) : TcpHandler<ReadOnlySequence<byte>>
{
    private ChatRoom? _chat;

    public TcpServer<ReadOnlySequence<byte>> Server
    {
        get => field ?? throw new InvalidOperationException("Server not set.");
        set
        {
            field = value;
            _chat = mode == ServeMode.Chat ? new ChatRoom(value) : null;
        }
    }

    public override ValueTask OnConnectedAsync(ClientInfo client)
    {
        log.Info($"client {client.Id} connected from {client.RemoteEndPoint}");
        _chat?.Join(client);
        return ValueTask.CompletedTask;
    }

    public override ValueTask OnReceivedAsync(ClientInfo client, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        if (mode == ServeMode.Broadcast)
        {
            Server.SendToAllClients(messages.AsSpan()); // the whole batch to each client at once
            return ValueTask.CompletedTask;
        }

        foreach (var message in messages)
        {
            switch (mode)
            {
                case ServeMode.Echo:
                    Server.SendToClient(client.Id, message);
                    break;
                default:
                    _chat!.Say(client, message);
                    break;
            }
        }

        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDisconnectedAsync(ClientInfo client, DisconnectInfo reason)
    {
        log.Info($"client {client.Id} disconnected: {reason}");
        _chat?.Leave(client, reason);
        return ValueTask.CompletedTask;
    }

    public override void OnError(string message, Exception? exception) => log.Info($"error: {message}");

    public override void OnClientError(ClientInfo client, string message, Exception? exception) => log.Info($"client {client.Id} error: {message}");
}
