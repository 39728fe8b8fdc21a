using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace CbuffTcp.Cli;

/// <summary>
/// A chat room over text lines: everyone gets a name, sees who joins and leaves, and can use
/// <c>/nick NAME</c>, <c>/who</c> and <c>/quit</c>. In a cluster (<c>--redis</c>) the room spans every node: lines and
/// notices go out as cluster broadcasts, each node publishes its names as its presence metadata (one per line), and
/// the head count and <c>/who</c> read the whole cluster.
/// </summary>
internal sealed class ChatRoom
{
    private const int MaxNameLength = 32;

    private readonly ConcurrentDictionary<long, string> _names = new();

    public async ValueTask JoinAsync(TcpConnection<ReadOnlySequence<byte>> client)
    {
        var name = $"guest{client.Id}";
        _names[client.Id] = name;
        PublishNames(client);
        var here = client.Server!.Cluster is { } cluster ? await cluster.GetClientCountAsync().ConfigureAwait(false) : _names.Count;
        Tell(client, $"* welcome, {name}. {here} here. Commands: /nick NAME, /who, /quit");
        Announce(client, $"* {name} joined");
    }

    public async ValueTask SayAsync(TcpConnection<ReadOnlySequence<byte>> client, ReadOnlySequence<byte> line)
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
                await RenameAsync(client, name, argument).ConfigureAwait(false);
                break;
            case "/who":
                Tell(client, $"* here: {string.Join(", ", (await AllNamesAsync(client).ConfigureAwait(false)).Order(StringComparer.Ordinal))}");
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
            PublishNames(client);
            Announce(client, reason.Reason == DisconnectReason.ServerStopping ? $"* {name} left (server stopping)" : $"* {name} left");
        }
    }

    private async ValueTask RenameAsync(TcpConnection<ReadOnlySequence<byte>> client, string oldName, string newName)
    {
        if (newName.Length is 0 or > MaxNameLength || newName.Any(char.IsWhiteSpace))
        {
            Tell(client, $"* a name is 1 to {MaxNameLength} characters without spaces");
            return;
        }

        if ((await AllNamesAsync(client).ConfigureAwait(false)).Contains(newName, StringComparer.OrdinalIgnoreCase))
        {
            Tell(client, $"* {newName} is taken");
            return;
        }

        _names[client.Id] = newName;
        PublishNames(client);
        Tell(client, $"* you are now {newName}");
        Announce(client, $"* {oldName} is now {newName}");
    }

    /// <summary>Everyone in the room: this node's names, and every other node's from its presence, read now.</summary>
    private async ValueTask<List<string>> AllNamesAsync(TcpConnection<ReadOnlySequence<byte>> client)
    {
        var names = _names.Values.ToList();
        if (client.Server!.Cluster is { } cluster)
        {
            foreach (var node in await cluster.GetNodesAsync().ConfigureAwait(false))
            {
                if (node.NodeId != cluster.NodeId && node.Metadata is { } metadata)
                {
                    names.AddRange(metadata.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                }
            }
        }

        return names;
    }

    /// <summary>In a cluster, this node's names go out with its presence at once, for the other nodes' /who.</summary>
    private void PublishNames(TcpConnection<ReadOnlySequence<byte>> client)
    {
        if (client.Server!.Cluster is { } cluster)
        {
            lock (_names)
            {
                cluster.Metadata = string.Join('\n', _names.Values);
            }
        }
    }

    private static void Tell(TcpConnection<ReadOnlySequence<byte>> client, string text) => client.Send(Encoding.UTF8.GetBytes(text));

    private static void Announce(TcpConnection<ReadOnlySequence<byte>> client, string text) => client.Server!.SendToAllClientsExcept(client.Id, Encoding.UTF8.GetBytes(text));
}
