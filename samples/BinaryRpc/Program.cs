// A small binary request/response protocol (a type byte, a request id, a body) with its server and its client.
// Run: dotnet run --project samples/BinaryRpc        (starts a server on a free port, calls it, prints the answers)
using System.Buffers.Binary;
using System.Net;
using System.Text;
using BinaryRpc;
using CbuffTcp;

await using var server = new TcpServer<RpcMessage>(new RpcProtocol(), new RpcServerHandler());
await server.StartAsync(new IPEndPoint(IPAddress.Loopback, 0));
Console.WriteLine($"rpc server on {server.LocalEndPoint}");

await using var client = await RpcClient.ConnectAsync(server.LocalEndPoint!);

var operands = new byte[8];
BinaryPrimitives.WriteInt32BigEndian(operands, 40);
BinaryPrimitives.WriteInt32BigEndian(operands.AsSpan(4), 2);
var sum = await client.CallAsync(RpcType.Add, operands);
Console.WriteLine($"Add(40, 2) = {BinaryPrimitives.ReadInt32BigEndian(sum.Body.Span)}");

var echo = await client.CallAsync(RpcType.Echo, Encoding.UTF8.GetBytes("hello"));
Console.WriteLine($"Echo(hello) = {Encoding.UTF8.GetString(echo.Body.Span)}");

var error = await client.CallAsync(RpcType.Add, new byte[3]);
Console.WriteLine($"Add(3 bytes) = {error.Type}: {Encoding.UTF8.GetString(error.Body.Span)}");

// A hundred calls in flight on one connection, matched by id.
var calls = Enumerable.Range(0, 100).Select(i => client.CallAsync(RpcType.Echo, BitConverter.GetBytes(i))).ToArray();
var answers = await Task.WhenAll(calls);
var matched = answers.Select((answer, i) => BitConverter.ToInt32(answer.Body.Span) == i).All(ok => ok);
Console.WriteLine($"100 concurrent calls: {(matched ? "every answer matched its request" : "MISMATCH")}");
return matched ? 0 : 1;
