using System.Buffers.Binary;
using System.Text;
using CbuffTcp;

namespace BinaryRpc;

/// <summary>Answers each request with a Result (or an Error) carrying the request's id.</summary>
public sealed class RpcServerHandler : TcpHandler<RpcMessage>
{
    public override ValueTask OnReceivedAsync(TcpConnection<RpcMessage> connection, MessageBatch<RpcMessage> messages)
    {
        foreach (var request in messages)
        {
            connection.Send(Answer(request));
        }

        return ValueTask.CompletedTask;
    }

    private static RpcMessage Answer(RpcMessage request) => request.Type switch
    {
        RpcType.Add when request.Body.Length == 8 => Result(request, Int(checked(
            BinaryPrimitives.ReadInt32BigEndian(request.Body.Span) + BinaryPrimitives.ReadInt32BigEndian(request.Body.Span[4..])))),
        RpcType.Add => Error(request, "Add takes two 32-bit integers"),
        RpcType.Echo => Result(request, request.Body),
        RpcType.Time => Result(request, Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O"))),
        _ => Error(request, $"{request.Type} is not a request"),
    };

    private static RpcMessage Result(RpcMessage request, ReadOnlyMemory<byte> body) => new(RpcType.Result, request.Id, body);

    private static RpcMessage Error(RpcMessage request, string reason) => new(RpcType.Error, request.Id, Encoding.UTF8.GetBytes(reason));

    private static byte[] Int(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }
}
