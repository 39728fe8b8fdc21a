namespace BinaryRpc;

/// <summary>What a message asks or answers; the first byte of every frame.</summary>
public enum RpcType : byte
{
    /// <summary>Request: add two 32-bit integers. Body: a, b (big-endian).</summary>
    Add = 1,

    /// <summary>Request: send the body back unchanged.</summary>
    Echo = 2,

    /// <summary>Request: the server's clock. No body.</summary>
    Time = 3,

    /// <summary>Response to a request; the body is the answer. The id names the request.</summary>
    Result = 0x80,

    /// <summary>Response: the request could not be served; the body is a UTF-8 reason.</summary>
    Error = 0x81,
}

/// <summary>
/// One request or response. It owns its body (<see cref="RpcProtocol.MessagesReferenceInput"/> is false), so a
/// handler may keep it after the callback returns.
/// </summary>
/// <param name="Type">What it asks or answers.</param>
/// <param name="Id">Chosen by the client per request; a response carries its request's id, so answers can be matched.</param>
/// <param name="Body">Type-specific bytes.</param>
public readonly record struct RpcMessage(RpcType Type, uint Id, ReadOnlyMemory<byte> Body);
