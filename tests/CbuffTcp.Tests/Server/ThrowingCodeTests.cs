using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Server;

/// <summary>Fault 13: user code (every handler event, and the protocol) throwing, synchronously and asynchronously.</summary>
public class ThrowingCodeTests
{
    private const int Clients = 1000;

    [Fact]
    public async Task Every_tenth_call_of_each_event_and_the_protocol_throws_only_that_client_is_closed_each_reported_once()
    {
        var handler = new FaultyHandler();
        await using var fixture = await ServerFixture<FaultyHandler>.StartAsync(handler, protocol: new FaultyProtocol());
        var clients = new Dictionary<long, WireClient>();
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                var client = await fixture.ConnectAsync();
                var connected = await handler.WaitForNthAsync("connected", i + 1);
                clients[connected.ClientId] = client;
                var fault = FaultyHandler.FaultOf(connected.ClientId);
                if (fault is not (InjectedFault.OnConnectedSync or InjectedFault.OnConnectedAsync))
                {
                    await client.SendLengthFrameAsync(fault == InjectedFault.Protocol ? "P: throw"u8 : "hello"u8);
                }
            }

            foreach (var (id, client) in clients)
            {
                var fault = FaultyHandler.FaultOf(id);
                if (fault is InjectedFault.None or InjectedFault.OnDisconnected)
                {
                    Assert.Equal("hello"u8.ToArray(), await client.ReadLengthFrameAsync());
                    Assert.True(fixture.Server.TryGetClient(id, out _), $"client {id} ({fault}) was closed");
                }
                else
                {
                    // Closed, and nothing about the failure was sent to the peer: no bytes before the FIN.
                    Assert.True(await client.WaitForCloseAsync(), $"client {id} ({fault}) was not closed");
                    // A protocol that throws anything but a ProtocolException is user code failing, like a handler.
                    Assert.Equal(DisconnectReason.HandlerError, (await handler.WaitForAsync("disconnected", id)).Reason!.Value.Reason);
                }
            }
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                client.Dispose();
            }
        }

        await handler.WaitUntilAsync(
            events => events.Count(e => e.Kind == "disconnected") == Clients,
            timeoutSeconds: 30,
            what: $"{Clients} disconnects; missing: {string.Join(", ", clients.Keys.Where(id => !handler.Events.Any(e => e.Kind == "disconnected" && e.ClientId == id)).Take(20).Select(id => $"{id} ({FaultyHandler.FaultOf(id)})"))}");
        foreach (var id in clients.Keys)
        {
            var reports = handler.Events.Count(e => e.Kind == "connection-error" && e.ClientId == id);
            Assert.True(reports == (FaultyHandler.FaultOf(id) == InjectedFault.None ? 0 : 1), $"client {id} ({FaultyHandler.FaultOf(id)}): {reports} reports");
        }

        Assert.DoesNotContain(handler.Events, e => e.Kind == "error");
    }

    public enum InjectedFault
    {
        None,
        OnConnectedSync,
        OnConnectedAsync,
        OnReceivedSync,
        OnReceivedAsync,
        Protocol,
        OnDisconnected,
    }

    public sealed class FaultyHandler : EchoHandler
    {
        /// <summary>Which call throws for a client: each kind for one client in ten, the rest run clean.</summary>
        public static InjectedFault FaultOf(long id) => (id % 10) switch
        {
            1 => InjectedFault.OnConnectedSync,
            2 => InjectedFault.OnConnectedAsync,
            3 => InjectedFault.OnReceivedSync,
            4 => InjectedFault.OnReceivedAsync,
            5 => InjectedFault.Protocol,
            6 => InjectedFault.OnDisconnected,
            _ => InjectedFault.None,
        };

        protected override async ValueTask OnConnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection)
        {
            switch (FaultOf(connection.Id))
            {
                case InjectedFault.OnConnectedSync:
                    throw new InvalidOperationException($"sync throw in OnConnected of {connection.Id}");
                case InjectedFault.OnConnectedAsync:
                    await Task.Yield();
                    throw new InvalidOperationException($"async throw in OnConnected of {connection.Id}");
            }
        }

        protected override async ValueTask OnReceivedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, MessageBatch<ReadOnlySequence<byte>> messages)
        {
            switch (FaultOf(connection.Id))
            {
                case InjectedFault.OnReceivedSync:
                    throw new InvalidOperationException($"sync throw in OnReceived of {connection.Id}");
                case InjectedFault.OnReceivedAsync:
                    await Task.Yield();
                    throw new InvalidOperationException($"async throw in OnReceived of {connection.Id}");
                default:
                    await base.OnReceivedCoreAsync(connection, messages);
                    break;
            }
        }

        protected override async ValueTask OnDisconnectedCoreAsync(TcpConnection<ReadOnlySequence<byte>> connection, DisconnectInfo reason)
        {
            if (FaultOf(connection.Id) == InjectedFault.OnDisconnected)
            {
                await Task.Yield();
                throw new InvalidOperationException($"throw in OnDisconnected of {connection.Id}");
            }
        }
    }

    /// <summary>Length-prefixed, but decoding a payload that starts with 'P' throws (a bug in user code, not bad input).</summary>
    private sealed class FaultyProtocol : IProtocol<ReadOnlySequence<byte>>
    {
        private readonly LengthPrefixedProtocol _inner = new();

        public bool TryDepack(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> message)
        {
            if (!_inner.TryDepack(ref input, out message))
            {
                return false;
            }

            return message.FirstSpan is [(byte)'P', ..] ? throw new InvalidOperationException("the protocol's own bug") : true;
        }

        public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output) => _inner.Pack(message, output);
    }
}
