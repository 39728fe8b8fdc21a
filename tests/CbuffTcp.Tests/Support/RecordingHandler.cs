using System.Buffers;
using System.Collections.Concurrent;

namespace CbuffTcp.Tests.Support;

/// <summary>One event seen by <see cref="RecordingHandler"/>, in the order the handler saw it.</summary>
public sealed record HandlerEvent(string Kind, long ClientId, byte[][] Messages, DisconnectInfo? Reason = null, string? Text = null, Exception? Error = null);

/// <summary>
/// Records every event (messages copied out of the receive buffer), lets a test await a condition instead of
/// sleeping, and flags any overlap of two callbacks for the same client.
/// </summary>
public class RecordingHandler : TcpHandler<ReadOnlySequence<byte>>
{
    private readonly ConcurrentQueue<HandlerEvent> _events = new();
    private readonly ConcurrentDictionary<long, int> _inCallback = new();
    private readonly SemaphoreSlim _changed = new(0, int.MaxValue);
    private int _overlaps;

    public IReadOnlyList<HandlerEvent> Events => [.. _events];

    /// <summary>Times two callbacks of the same client ran at once (must stay 0).</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    public IEnumerable<HandlerEvent> For(long clientId) => Events.Where(e => e.ClientId == clientId);

    public IEnumerable<byte[]> ReceivedBy(long clientId) => For(clientId).Where(e => e.Kind == "received").SelectMany(e => e.Messages);

    public long LastConnectedId => Events.Last(e => e.Kind == "connected").ClientId;

    /// <summary>Waits until <paramref name="condition"/> holds over the events, or fails after <paramref name="timeoutSeconds"/>.</summary>
    public async Task WaitUntilAsync(Func<IReadOnlyList<HandlerEvent>, bool> condition, double timeoutSeconds = 10, string? what = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!condition(Events))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Timed out waiting for {what ?? "condition"}; events: {string.Join(", ", Events.Select(e => $"{e.Kind}#{e.ClientId}"))}");
            }

            await _changed.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    public Task<HandlerEvent> WaitForAsync(string kind, long? clientId = null, double timeoutSeconds = 10) =>
        WaitForNthAsync(kind, 1, clientId, timeoutSeconds);

    public async Task<HandlerEvent> WaitForNthAsync(string kind, int count, long? clientId = null, double timeoutSeconds = 10)
    {
        bool Match(HandlerEvent e) => e.Kind == kind && (clientId is null || e.ClientId == clientId);
        await WaitUntilAsync(events => events.Count(Match) >= count, timeoutSeconds, $"{count}× {kind}{(clientId is null ? "" : $" of #{clientId}")}");
        return Events.Where(Match).ElementAt(count - 1);
    }

    public override async ValueTask OnConnectedAsync(ClientInfo client)
    {
        Enter(client.Id);
        try
        {
            Record(new HandlerEvent("connected", client.Id, []));
            await OnConnectedCoreAsync(client);
        }
        finally
        {
            Exit(client.Id);
        }
    }

    public override async ValueTask OnReceivedAsync(ClientInfo client, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        Enter(client.Id);
        try
        {
            var copies = new byte[messages.Count][];
            for (var i = 0; i < messages.Count; i++)
            {
                copies[i] = messages[i].ToArray();
            }

            Record(new HandlerEvent("received", client.Id, copies));
            await OnReceivedCoreAsync(client, messages);
        }
        finally
        {
            Exit(client.Id);
        }
    }

    public override void OnSent(ClientInfo client, ReadOnlySequence<byte> message, ReadOnlySpan<byte> packet)
    {
        Enter(client.Id);
        Record(new HandlerEvent("sent", client.Id, [message.ToArray(), packet.ToArray()]));
        Exit(client.Id);
    }

    public override async ValueTask OnDisconnectedAsync(ClientInfo client, DisconnectInfo reason)
    {
        Enter(client.Id);
        try
        {
            await OnDisconnectedCoreAsync(client, reason);
        }
        finally
        {
            Record(new HandlerEvent("disconnected", client.Id, [], reason)); // recorded after the core ran, even if it threw
            Exit(client.Id);
        }
    }

    public override void OnError(string message, Exception? exception) => Record(new HandlerEvent("error", 0, [], Text: message, Error: exception));

    public override void OnClientError(ClientInfo client, string message, Exception? exception) =>
        Record(new HandlerEvent("client-error", client.Id, [], Text: message, Error: exception));

    protected virtual ValueTask OnConnectedCoreAsync(ClientInfo client) => ValueTask.CompletedTask;

    protected virtual ValueTask OnReceivedCoreAsync(ClientInfo client, MessageBatch<ReadOnlySequence<byte>> messages) => ValueTask.CompletedTask;

    protected virtual ValueTask OnDisconnectedCoreAsync(ClientInfo client, DisconnectInfo reason) => ValueTask.CompletedTask;

    private void Record(HandlerEvent e)
    {
        _events.Enqueue(e);
        _changed.Release();
    }

    private void Enter(long clientId)
    {
        if (_inCallback.AddOrUpdate(clientId, 1, (_, n) => n + 1) > 1)
        {
            Interlocked.Increment(ref _overlaps);
        }
    }

    private void Exit(long clientId) => _inCallback.AddOrUpdate(clientId, 0, (_, n) => n - 1);
}

/// <summary>Echoes every message back to its sender.</summary>
public class EchoHandler : RecordingHandler
{
    public TcpServer<ReadOnlySequence<byte>>? Server { get; set; }

    protected override ValueTask OnReceivedCoreAsync(ClientInfo client, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            Server!.SendToClient(client.Id, message);
        }

        return ValueTask.CompletedTask;
    }
}
