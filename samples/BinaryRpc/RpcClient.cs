using System.Collections.Concurrent;
using System.Net;
using CbuffTcp;

namespace BinaryRpc;

/// <summary>
/// Calls the server: each call sends a request with a fresh id and completes when the response with that id comes back,
/// so many calls can be in flight on one connection at once.
/// </summary>
public sealed class RpcClient : TcpHandler<RpcMessage>, IAsyncDisposable
{
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<RpcMessage>> _pending = new();
    private readonly TcpClient<RpcMessage> _connection;
    private int _lastId;

    private RpcClient() => _connection = new TcpClient<RpcMessage>(new RpcProtocol(), this);

    public static async Task<RpcClient> ConnectAsync(EndPoint server)
    {
        var client = new RpcClient();
        await client._connection.ConnectAsync(server).ConfigureAwait(false);
        return client;
    }

    /// <summary>Sends a request and waits (up to <paramref name="timeout"/>, 5 s by default) for its response.</summary>
    public async Task<RpcMessage> CallAsync(RpcType type, ReadOnlyMemory<byte> body, TimeSpan? timeout = null)
    {
        var id = (uint)Interlocked.Increment(ref _lastId);
        var response = new TaskCompletionSource<RpcMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = response;
        try
        {
            var sent = _connection.Send(new RpcMessage(type, id, body));
            if (sent != SendResult.Queued)
            {
                throw new InvalidOperationException($"request {id} was not sent: {sent}");
            }

            return await response.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public override ValueTask OnReceivedAsync(TcpConnection<RpcMessage> connection, MessageBatch<RpcMessage> messages)
    {
        foreach (var response in messages)
        {
            if (_pending.TryGetValue(response.Id, out var call))
            {
                call.TrySetResult(response); // the message owns its body: safe to keep after this callback
            }
        }

        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDisconnectedAsync(TcpConnection<RpcMessage> connection, DisconnectInfo reason)
    {
        foreach (var call in _pending.Values)
        {
            call.TrySetException(new IOException($"disconnected: {reason}"));
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
