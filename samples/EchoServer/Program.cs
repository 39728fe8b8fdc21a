// A length-prefixed echo server: every frame a client sends comes back to it.
// Run: dotnet run --project samples/EchoServer -- 9000      (Enter stops it)
using System.Buffers;
using System.Globalization;
using CbuffTcp;
using CbuffTcp.Protocols;

await using var server = new TcpServer<ReadOnlySequence<byte>>(new LengthPrefixedProtocol(), new EchoHandler());
await server.StartAsync(args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 9000);
Console.WriteLine($"echo server on {server.LocalEndPoint}; Enter stops it");
Console.ReadLine();
await server.StopAsync();

internal sealed class EchoHandler : TcpHandler<ReadOnlySequence<byte>>
{
    public override ValueTask OnReceivedAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
    {
        foreach (var message in messages)
        {
            connection.Send(message); // packs (copies) now: the view may be reused afterwards
        }

        return ValueTask.CompletedTask;
    }
}
