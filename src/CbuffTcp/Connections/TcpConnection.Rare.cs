using CbuffTcp.Connections;

namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    // What few connections need (a PROXY header, receive rates, a client's reconnect hook), out of the object every
    // connection carries: an idle server holds thousands of connections, and each field costs every one of them.
    private RareState? _rare;

    /// <summary>
    /// What a trusted load balancer's PROXY protocol header said about this connection (with
    /// <see cref="TcpServerOptions.ProxyProtocol"/>): the client as it saw it, and v2's fields (authority, TLS). Null
    /// when none came. <see cref="RemoteEndPoint"/> is already its client.
    /// </summary>
    public ProxyHeader? ProxyHeader => _rare?.ProxyHeader;

    /// <summary>
    /// Runs after <c>OnConnectedAsync</c>, before the loops start: what it queues goes out right behind what
    /// <c>OnConnectedAsync</c> queued. A client's, for its reconnect handshake and outbox; null on a server.
    /// </summary>
    internal Func<TcpConnection<TMessage>, ValueTask>? AfterConnected
    {
        get => _rare?.AfterConnected;
        init => Rare.AfterConnected = value;
    }

    /// <summary>The receive rate limits (<see cref="TcpServerOptions.MessageRatePerConnection"/>, <see cref="TcpServerOptions.ByteRatePerConnection"/>); null when off.</summary>
    private ReceiveThrottle? Throttle => _rare?.Throttle;

    /// <summary>
    /// Serializes OnSent (the write side) with the receive-side callbacks, so one client's callbacks never overlap.
    /// Only with <see cref="TcpConnectionOptions.NotifySent"/>.
    /// </summary>
    private SemaphoreSlim? CallbackGate => _rare?.CallbackGate;

    /// <summary>With AsyncReceive, the ordered queue between the receive loop and the handler; else null.</summary>
    private DispatchQueue<TMessage>? DispatchQueue => _rare?.DispatchQueue;

    /// <summary>
    /// Created on first use, by the one thread that sets up the connection (its constructor, its PROXY header read, or
    /// its receive loop: at its start, or at bad input).
    /// </summary>
    private RareState Rare => _rare ??= new RareState();

    private sealed class RareState
    {
        /// <summary>Bytes read with the PROXY header that follow it: the receive loop starts from them.</summary>
        public ReceiveBuffer? FirstInput;

        public ProxyHeader? ProxyHeader;

        public Func<TcpConnection<TMessage>, ValueTask>? AfterConnected;

        public ReceiveThrottle? Throttle;

        /// <summary>The client a PROXY header named, which the connection is from then on.</summary>
        public volatile System.Net.EndPoint? ClientEndPoint;

        public SemaphoreSlim? CallbackGate;

        public DispatchQueue<TMessage>? DispatchQueue;

        /// <summary>With AsyncReceive, the loop that runs the handler from <see cref="DispatchQueue"/>: the receive loop waits for it at the end.</summary>
        public Task? DispatchLoop;

        /// <summary>Why decoding stopped at bad input (a protocol error, a throwing <c>TryDepack</c>): the receive loop ends with it.</summary>
        public DisconnectInfo? DecodeFailure;

        /// <summary>With AsyncReceive, how receiving ended (the peer's FIN, bad input): closed with once the dispatch loop is done.</summary>
        public DisconnectInfo? EndedBy;
    }
}
