using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace CbuffTcp.Cli;

/// <summary>
/// A chat room over text lines: everyone gets a name, sees who joins and leaves, and can use
/// <c>/nick NAME</c>, <c>/who</c> and <c>/quit</c>.
/// </summary>
internal sealed class ChatRoom
{
    private const int MaxNameLength = 32;

    private readonly ConcurrentDictionary<long, string> _names = new();

    public void Join(TcpConnection<ReadOnlySequence<byte>> client)
    {
        var name = $"guest{client.Id}";
        _names[client.Id] = name;
        Tell(client, $"* welcome, {name}. {_names.Count} here. Commands: /nick NAME, /who, /quit");
        Announce(client, $"* {name} joined");
    }

    public void Say(TcpConnection<ReadOnlySequence<byte>> client, in ReadOnlySequence<byte> line)
    {
        var text = Encoding.UTF8.GetString(line).Trim();
        if (text.Length == 0)
        {
            return;
        }

        var name = _names.GetValueOrDefault(client.Id, $"guest{client.Id}");
        if (text[0] != '/')
        {
            Announce(client, $"<{name}> {text}");
            return;
        }

        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var command = space < 0 ? text : text[..space];
        var argument = space < 0 ? string.Empty : text[(space + 1)..].Trim();
        switch (command)
        {
            case "/nick":
                Rename(client, name, argument);
                break;
            case "/who":
                Tell(client, $"* here: {string.Join(", ", _names.Values.Order(StringComparer.Ordinal))}");
                break;
            case "/quit":
                Tell(client, "* bye");
                client.Close("quit");
                break;
            default:
                Tell(client, $"* unknown command {command}; try /nick NAME, /who, /quit");
                break;
        }
    }

    public void Leave(TcpConnection<ReadOnlySequence<byte>> client, DisconnectInfo reason)
    {
        if (_names.TryRemove(client.Id, out var name))
        {
            Announce(client, reason.Reason == DisconnectReason.ServerStopping ? $"* {name} left (server stopping)" : $"* {name} left");
        }
    }

    private void Rename(TcpConnection<ReadOnlySequence<byte>> client, string oldName, string newName)
    {
        if (newName.Length is 0 or > MaxNameLength || newName.Any(char.IsWhiteSpace))
        {
            Tell(client, $"* a name is 1 to {MaxNameLength} characters without spaces");
            return;
        }

        if (_names.Values.Contains(newName, StringComparer.OrdinalIgnoreCase))
        {
            Tell(client, $"* {newName} is taken");
            return;
        }

        _names[client.Id] = newName;
        Tell(client, $"* you are now {newName}");
        Announce(client, $"* {oldName} is now {newName}");
    }

    private static void Tell(TcpConnection<ReadOnlySequence<byte>> client, string text) => client.Send(Encoding.UTF8.GetBytes(text));

    private static void Announce(TcpConnection<ReadOnlySequence<byte>> client, string text) => client.Server!.SendToAllClientsExcept(client.Id, Encoding.UTF8.GetBytes(text));
}
