using System.Net;
using System.Net.Sockets;
using CbuffTcp.Connections;

namespace CbuffTcp.Testing;

/// <summary>
/// One end of an in-memory connection, under the same seam as a socket: the connection core runs its read, decode and
/// write loops over it unchanged. Half-close, reset and a bounded "kernel buffer" behave as on TCP.
/// </summary>
internal sealed class InMemoryTransport : ConnectionTransport
{
    private readonly ByteChannel _incoming;
    private readonly ByteChannel _outgoing;
    private volatile bool _aborted;

    private InMemoryTransport(ByteChannel incoming, ByteChannel outgoing, EndPoint remote, EndPoint local)
        : base(remote, local)
    {
        _incoming = incoming;
        _outgoing = outgoing;
    }

    /// <summary>How many times the connection waited for data here, and how many reads it made (tests count calls).</summary>
    public int Waits { get; private set; }

    /// <inheritdoc cref="Waits"/>
    public int Receives { get; private set; }

    /// <summary>Its reads never wait, as a non-blocking socket's: a read that finds nothing returns <see cref="ConnectionTransport.NothingYet"/>.</summary>
    public override bool ReceivesWithoutWaiting => true;

    /// <summary>Bytes this end has sent that the other end has not read yet.</summary>
    public int Unread => _outgoing.Length;

    /// <summary>True once nothing more will arrive here: the other end finished its stream and it is all read, or the connection was reset.</summary>
    public bool IncomingEnded => _incoming.IsAtEnd;

    /// <summary>Two connected ends; each direction holds up to <paramref name="capacity"/> unread bytes.</summary>
    public static (InMemoryTransport Client, InMemoryTransport Server) CreatePair(EndPoint clientEndPoint, EndPoint serverEndPoint, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var toServer = new ByteChannel(capacity);
        var toClient = new ByteChannel(capacity);
        return (new InMemoryTransport(toClient, toServer, serverEndPoint, clientEndPoint), new InMemoryTransport(toServer, toClient, clientEndPoint, serverEndPoint));
    }

    public override ValueTask<int> WaitForDataAsync()
    {
        Waits++;
        var waiting = _incoming.WaitForDataAsync();
        return waiting.IsCompletedSuccessfully ? new ValueTask<int>(0) : WaitAsync(waiting);

        static async ValueTask<int> WaitAsync(Task waiting)
        {
            await waiting.ConfigureAwait(false);
            return 0;
        }
    }

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        ThrowIfAborted();
        Receives++;
        var received = _incoming.Read(buffer.Span);
        return new ValueTask<int>(received < 0 ? NothingYet : received);
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer)
    {
        ThrowIfAborted();
        return new ValueTask(_outgoing.WriteAsync(buffer));
    }

    /// <summary>Half-close (shutdown of sending only): the other end reads what was sent, then the end of the stream.</summary>
    public void ShutdownSend() => _outgoing.Finish();

    public override void Shutdown()
    {
        _outgoing.Finish();
        _incoming.CloseReader(); // ends this end's pending wait, as shutdown(SHUT_RDWR) does
    }

    public override void Abort()
    {
        _aborted = true;
        _outgoing.Reset();
        _incoming.Reset();
    }

    public override void Dispose()
    {
        if (!_aborted)
        {
            Shutdown(); // a socket closed after its loops end sends its FIN if it has not yet
        }
    }

    private void ThrowIfAborted()
    {
        if (_aborted)
        {
            throw new SocketException((int)SocketError.OperationAborted);
        }
    }
}
