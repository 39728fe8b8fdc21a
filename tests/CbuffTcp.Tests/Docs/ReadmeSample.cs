// README.md's "A protocol and a handler in 30 lines", verbatim between the markers: DocumentationTests checks both.
#pragma warning disable CA1050 // the README declares its types at the top level, as a user's Program.cs would
// README sample begins
using System.Buffers;
using System.Buffers.Binary;
using CbuffTcp;

// A message is a 2-byte big-endian opcode and a 4-byte big-endian value; every frame is 6 bytes.
public readonly record struct Command(ushort Op, int Value);

public sealed class CommandProtocol : IProtocol<Command>
{
    public bool MessagesReferenceInput => false;   // Command owns its data: no copy needed for AsyncReceive

    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out Command message)
    {
        message = default;
        if (buffer.Length < 6) return false;                   // need more bytes: not an error
        Span<byte> frame = stackalloc byte[6];
        buffer.Slice(0, 6).CopyTo(frame);
        message = new Command(BinaryPrimitives.ReadUInt16BigEndian(frame), BinaryPrimitives.ReadInt32BigEndian(frame[2..]));
        if (message.Op > 10) throw new ProtocolException($"unknown opcode {message.Op}");  // closes that client only
        buffer = buffer.Slice(6);
        return true;
    }

    public void Pack(in Command message, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(6);
        BinaryPrimitives.WriteUInt16BigEndian(span, message.Op);
        BinaryPrimitives.WriteInt32BigEndian(span[2..], message.Value);
        output.Advance(6);
    }
}

public sealed class Doubler : TcpHandler<Command>
{
    public override ValueTask OnReceivedAsync(TcpConnection<Command> connection, MessageBatch<Command> messages)
    {
        foreach (var command in messages)
            connection.Send(command with { Value = command.Value * 2 });   // the reply goes straight to its queue
        return ValueTask.CompletedTask;
    }
}

// await using var server = new TcpServer<Command>(new CommandProtocol(), new Doubler(), new TcpServerOptions { MaxConnections = 1000 });
// await server.StartAsync(9000);
// README sample ends
