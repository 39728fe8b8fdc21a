using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace CbuffTcp.Cli;

/// <summary>
/// A chat room over text lines: everyone gets a name, sees who joins and leaves, and can use
/// <c>/nick NAME</c>, <c>/who</c> and <c>/quit</c>.
/// </summary>
internal sealed class ChatRoom(TcpServer<ReadOnlySequence<byte>> server)
{
    private const int MaxNameLength = 32;

    private readonly ConcurrentDictionary<long, string> _names = new();

    public void Join(ClientInfo client)
    {
        var name = $"guest{client.Id}";
        _names[client.Id] = name;
        Tell(client.Id, $"* welcome, {name}. {_names.Count} here. Commands: /nick NAME, /who, /quit");
        Announce(client.Id, $"* {name} joined");
    }

    public void Say(ClientInfo client, in ReadOnlySequence<byte> line)
    {
        var text = Encoding.UTF8.GetString(line).Trim();
        if (text.Length == 0)
        {
            return;
        }

        var name = _names.GetValueOrDefault(client.Id, $"guest{client.Id}");
        if (text[0] != '/')
        {
            Announce(client.Id, $"<{name}> {text}");
            return;
        }

        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var command = space < 0 ? text : text[..space];
        var argument = space < 0 ? string.Empty : text[(space + 1)..].Trim();
        switch (command)
        {
            case "/nick":
                Rename(client.Id, name, argument);
                break;
            case "/who":
                Tell(client.Id, $"* here: {string.Join(", ", _names.Values.Order(StringComparer.Ordinal))}");
                break;
            case "/quit":
                Tell(client.Id, "* bye");
                server.CloseClient(client.Id, "quit");
                break;
            default:
                Tell(client.Id, $"* unknown command {command}; try /nick NAME, /who, /quit");
                break;
        }
    }

    public void Leave(ClientInfo client, DisconnectInfo reason)
    {
        if (_names.TryRemove(client.Id, out var name))
        {
            Announce(client.Id, reason.Reason == DisconnectReason.ServerStopping ? $"* {name} left (server stopping)" : $"* {name} left");
        }
    }

    private void Rename(long clientId, string oldName, string newName)
    {
        if (newName.Length is 0 or > MaxNameLength || newName.Any(char.IsWhiteSpace))
        {
            Tell(clientId, $"* a name is 1 to {MaxNameLength} characters without spaces");
            return;
        }

        if (_names.Values.Contains(newName, StringComparer.OrdinalIgnoreCase))
        {
            Tell(clientId, $"* {newName} is taken");
            return;
        }

        _names[clientId] = newName;
        Tell(clientId, $"* you are now {newName}");
        Announce(clientId, $"* {oldName} is now {newName}");
    }

    private void Tell(long clientId, string text) => server.SendToClient(clientId, Encoding.UTF8.GetBytes(text));

    private void Announce(long exceptClientId, string text) => server.SendToAllClientsExcept(exceptClientId, Encoding.UTF8.GetBytes(text));
}
