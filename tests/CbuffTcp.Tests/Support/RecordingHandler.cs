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

    public override async ValueTask OnConnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection)
    {
        Enter(connection.Id);
        try
        {
            Record(new HandlerEvent("connected", connection.Id, []));
            await OnConnectedCoreAsync(connection);
        }
        finally
        {
            Exit(connection.Id);
        }
    }

    public override async ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        Enter(connection.Id);
        try
        {
            var copies = new byte[messages.Count][];
            for (var i = 0; i < messages.Count; i++)
            {
                copies[i] = messages[i].ToArray();
            }

            Record(new HandlerEvent("received", connection.Id, copies));
            await OnReceivedCoreAsync(connection, messages);
        }
        finally
        {
            Exit(connection.Id);
        }
    }

    public override void OnSent(TcpConnection<ReadOnlySequence<byte>> connection, ReadOnlySequence<byte> message, ReadOnlySpan<byte> packet)
    {
        Enter(connection.Id);
        Record(new HandlerEvent("sent", connection.Id, [message.ToArray(), packet.ToArray()]));
        Exit(connection.Id);
    }

    public override async ValueTask OnDisconnectedAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
    {
        Enter(connection.Id);
        try
        {
            await OnDisconnectedCoreAsync(connection, reason);
        }
        finally
        {
            Record(new HandlerEvent("disconnected", connection.Id, [], reason)); // recorded after the core ran, even if it threw
            Exit(connection.Id);
        }
    }

    public override void OnError(string message, Exception? exception) => Record(new HandlerEvent("error", 0, [], Text: message, Error: exception));

    public override void OnConnectionError(TcpConnection<ReadOnlySequence<byte>> connection, string message, Exception? exception) =>
        Record(new HandlerEvent("connection-error", connection.Id, [], Text: message, Error: exception));

    protected virtual ValueTask OnConnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection) => ValueTask.CompletedTask;

    protected virtual ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages) => ValueTask.CompletedTask;

    protected virtual ValueTask OnDisconnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason) => ValueTask.CompletedTask;

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
    protected override ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            connection.Send(message);
        }

        return ValueTask.CompletedTask;
    }
}
