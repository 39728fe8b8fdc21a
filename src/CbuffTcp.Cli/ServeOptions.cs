using System.CommandLine;
using System.Net;

namespace CbuffTcp.Cli;

internal enum WireProtocol
{
    Line,
    Length,
    Raw,
}

internal enum ServeMode
{
    Chat,
    Echo,
    Broadcast,
}

/// <summary>The parsed options of <c>cbuff serve</c>.</summary>
internal sealed record ServeOptions(
    IPAddress Host,
    int Port,
    WireProtocol Protocol,
    ServeMode Mode,
    int MaxFrame,
    int SendQueueLimit,
    int MaxConnections,
    int MaxConnectionsPerIp,
    TimeSpan IdleTimeout,
    TimeSpan FrameTimeout,
    string? TlsCertificate,
    string? TlsPassword,
    IoMode Io,
    string? UnixSocket,
    bool AsyncReceive,
    string? Redis,
    string RedisPrefix,
    ProxyProtocolOptions? ProxyProtocol,
    int? ConnectionRatePerIp,
    long? MemoryBudget,
    double? ShedAtMemory,
    int? MessageRatePerConnection,
    int? ByteRatePerConnection)
{
    /// <summary>Where to listen: the Unix socket when one is given, else the TCP address and port.</summary>
    public EndPoint ListenEndPoint => UnixSocket is { } path ? new System.Net.Sockets.UnixDomainSocketEndPoint(path) : new IPEndPoint(Host, Port);

    /// <summary>The end point as a person wrote it, for messages.</summary>
    public string ListenName => UnixSocket is { } path ? $"unix:{path}" : $"{Host}:{Port}";

    /// <summary>The options of <c>cbuff serve</c>, as System.CommandLine parses them.</summary>
    public static class Cli
    {
        public static readonly Option<IPAddress> Host = CommandLineOptions.Address("--host", "Address to listen on (:: for IPv6 dual mode).", IPAddress.Any);
        public static readonly Option<int> Port = CommandLineOptions.Int("--port", "TCP port; 0 picks a free one.", 9000, 0, 65535, "a port (0-65535)");
        public static readonly Option<WireProtocol> Protocol = CommandLineOptions.Enum("--protocol", "line: UTF-8 text ending in \\n (\\r\\n accepted); length: 4-byte big-endian payload length, then the payload; raw: no framing, bytes are messages as they arrive (echo them back to any stock echo client).", WireProtocol.Line);
        public static readonly Option<ServeMode?> Mode = CommandLineOptions.OptionalEnum<ServeMode>("--mode", "chat: a chat room for nc/telnet (the default with line; needs line). echo: every message back to its sender (the default with length). broadcast: every message to every client, sender included.");
        public static readonly Option<int> MaxFrame = CommandLineOptions.Int("--max-frame", "Largest message accepted, in bytes.", 1024 * 1024, 1, 1024 * 1024 * 1024, "a size from 1 to 1073741824");
        public static readonly Option<int> SendQueueLimit = CommandLineOptions.Int("--send-queue-limit", "Most bytes queued per client before sends are refused.", 4 * 1024 * 1024, 1, int.MaxValue, "a positive byte count");
        public static readonly Option<int> MaxConnections = CommandLineOptions.Int("--max-connections", "Most clients at once.", 10_000, 1, int.MaxValue, "a positive count");
        public static readonly Option<int> MaxConnectionsPerIp = CommandLineOptions.Int("--max-connections-per-ip", "Most clients at once from one IP address.", 10_000, 1, int.MaxValue, "a positive count");
        public static readonly Option<int> IdleTimeout = CommandLineOptions.Int("--idle-timeout", "Close a client that sent nothing for this many seconds; 0 = never.", 600, 0, int.MaxValue / 1000, "a number of seconds (0 turns it off)");
        public static readonly Option<int> FrameTimeout = CommandLineOptions.Int("--frame-timeout", "Close a client whose started frame is incomplete this many seconds; 0 = never.", 30, 0, int.MaxValue / 1000, "a number of seconds (0 turns it off)");
        public static readonly Option<string?> TlsCertificate = CommandLineOptions.Text("--tls-cert", "Speak TLS with this certificate and key: PKCS#12 (.pfx/.p12) or PEM (both in one file).", "FILE");
        public static readonly Option<string?> TlsPassword = CommandLineOptions.Text("--tls-password", "The password of the PKCS#12 file or encrypted PEM key.", "PASSWORD");
        public static readonly Option<IoMode> Io = CommandLineOptions.Enum("--io", "auto: CbuffTcp's own I/O threads where they run (Linux), else the thread pool. iothreads: the I/O threads, with a warning where they cannot run. threadpool: .NET's socket engine and thread pool.", IoMode.Auto);

        public static readonly Option<string?> Unix = CommandLineOptions.Text("--unix", "Listen on this Unix domain socket instead of TCP (--host and --port then do not apply). A socket file left by a server that is gone is replaced; the file is removed at stop.", "PATH");
        public static readonly Option<bool> AsyncReceive = new("--async-receive") { Description = "Run the handler off the read loop (AsyncReceive): reading goes on while it works, up to 1 MiB queued per client." };

        public static readonly Option<string?> Redis = CommandLineOptions.Text("--redis", "Join the other cbuff serve processes on this Redis (HOST:PORT, or any StackExchange.Redis configuration) into one server: broadcasts, the chat room and its /who span every node. Runs on alone while Redis is away.", "HOST:PORT");
        public static readonly Option<string> RedisPrefix = new("--redis-prefix") { Description = "The channel and key prefix on Redis: nodes with the same prefix form one server.", HelpName = "PREFIX", DefaultValueFactory = _ => "cbuff" };

        public static readonly Option<bool> ProxyProtocol = new("--proxy-protocol") { Description = "Read a PROXY protocol header (v1 or v2) from trusted load balancers (--trusted-proxy): connections then show the real client's address. A header from anyone else closes the connection." };
        public static readonly Option<string[]> TrustedProxy = new("--trusted-proxy") { Description = "A load balancer whose PROXY headers are believed: an address or a CIDR network (10.0.0.0/8). Repeat it, or separate with commas.", HelpName = "CIDR", AllowMultipleArgumentsPerToken = true };
        public static readonly Option<int> ConnectionRatePerIp = CommandLineOptions.Int("--connection-rate-per-ip", "Most new connections per second from one IP address; past it they are reset (0 = no limit).", 0, 0, int.MaxValue, "a count per second (0 turns it off)");
        public static readonly Option<long?> MemoryBudget = new("--memory-budget") { Description = "Most bytes held for all clients together (partial frames, send queues, AsyncReceive queues); past it reads of partial frames pause and sends are refused (QueueFull). Default: half of the memory the GC may use.", HelpName = "BYTES" };
        public static readonly Option<double> ShedAtMemory = CommandLineOptions.Number("--shed-at-memory", "Stop accepting while the memory budget is in use to this fraction (0 to 1), until use falls to 80 % of it; 0 = never.", 0, 0, "a fraction from 0 to 1 (0 turns it off)");
        public static readonly Option<int> MessageRatePerConnection = CommandLineOptions.Int("--message-rate-per-connection", "Most messages per second one client delivers; past it its reading pauses (0 = no limit).", 0, 0, int.MaxValue, "a count per second (0 turns it off)");
        public static readonly Option<int> ByteRatePerConnection = CommandLineOptions.Int("--byte-rate-per-connection", "Most bytes per second read from one client; past it its reading pauses (0 = no limit).", 0, 0, int.MaxValue, "a byte count per second (0 turns it off)");
        public static readonly Option<bool> ProxyProtocolRequired = new("--proxy-protocol-required") { Description = "With --proxy-protocol: refuse connections that do not start with a header from a trusted proxy." };

        public static IEnumerable<Option> All =>
            [Host, Port, Unix, Protocol, Mode, MaxFrame, SendQueueLimit, MaxConnections, MaxConnectionsPerIp, IdleTimeout, FrameTimeout, TlsCertificate, TlsPassword, Io, AsyncReceive, Redis, RedisPrefix, ProxyProtocol, TrustedProxy, ProxyProtocolRequired, ConnectionRatePerIp, MemoryBudget, ShedAtMemory, MessageRatePerConnection, ByteRatePerConnection];
    }

    /// <summary>The options of a parsed command line, or null and why when they do not go together.</summary>
    public static ServeOptions? From(ParseResult result, out string? error)
    {
        var protocol = result.GetValue(Cli.Protocol);
        var mode = result.GetValue(Cli.Mode) ?? (protocol == WireProtocol.Line ? ServeMode.Chat : ServeMode.Echo);
        var tlsCertificate = result.GetValue(Cli.TlsCertificate);
        var tlsPassword = result.GetValue(Cli.TlsPassword);
        var unix = result.GetValue(Cli.Unix);
        var proxy = ParseProxyProtocol(result, out var proxyError);
        error = proxyError ?? (mode == ServeMode.Chat && protocol != WireProtocol.Line ? "--mode chat needs --protocol line"
            : tlsPassword is not null && tlsCertificate is null ? "--tls-password needs --tls-cert"
            : unix is not null && (unix.Length == 0 || unix.Length > 107) ? "--unix needs a socket path of 1 to 107 bytes"
            : result.GetValue(Cli.RedisPrefix) is not { Length: > 0 } ? "--redis-prefix needs a prefix of at least one character"
            : result.GetValue(Cli.MemoryBudget) is < 1 ? "--memory-budget needs a positive number of bytes"
            : result.GetValue(Cli.ShedAtMemory) > 1 ? "--shed-at-memory needs a fraction from 0 to 1"
            : proxy is not null && tlsCertificate is not null ? "--proxy-protocol and --tls-cert do not go together yet: terminate TLS at the proxy"
            : null);
        return error is not null ? null : new ServeOptions(
            result.GetValue(Cli.Host)!,
            result.GetValue(Cli.Port),
            protocol,
            mode,
            result.GetValue(Cli.MaxFrame),
            result.GetValue(Cli.SendQueueLimit),
            result.GetValue(Cli.MaxConnections),
            result.GetValue(Cli.MaxConnectionsPerIp),
            Seconds(result.GetValue(Cli.IdleTimeout)),
            Seconds(result.GetValue(Cli.FrameTimeout)),
            tlsCertificate,
            tlsPassword,
            result.GetValue(Cli.Io),
            unix,
            result.GetValue(Cli.AsyncReceive),
            result.GetValue(Cli.Redis),
            result.GetValue(Cli.RedisPrefix)!,
            proxy,
            result.GetValue(Cli.ConnectionRatePerIp) is var rate and > 0 ? rate : null,
            result.GetValue(Cli.MemoryBudget),
            result.GetValue(Cli.ShedAtMemory) is var shed and > 0 ? shed : null,
            result.GetValue(Cli.MessageRatePerConnection) is var messageRate and > 0 ? messageRate : null,
            result.GetValue(Cli.ByteRatePerConnection) is var byteRate and > 0 ? byteRate : null);
    }

    /// <summary>--proxy-protocol with its trusted proxies, or null when off; an error for a proxy that does not parse.</summary>
    private static ProxyProtocolOptions? ParseProxyProtocol(ParseResult result, out string? error)
    {
        error = null;
        var trusted = (result.GetValue(Cli.TrustedProxy) ?? []).SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (!result.GetValue(Cli.ProxyProtocol))
        {
            error = trusted.Count > 0 || result.GetValue(Cli.ProxyProtocolRequired) ? "--trusted-proxy and --proxy-protocol-required need --proxy-protocol" : null;
            return null;
        }

        if (trusted.Count == 0)
        {
            error = "--proxy-protocol needs --trusted-proxy (an address or CIDR network): a header from anyone else is refused";
            return null;
        }

        var options = new ProxyProtocolOptions { Required = result.GetValue(Cli.ProxyProtocolRequired) };
        foreach (var proxy in trusted)
        {
            try
            {
                options.Trust(proxy);
            }
            catch (FormatException)
            {
                error = $"--trusted-proxy: '{proxy}' is neither an IP address nor a CIDR network (10.0.0.0/8)";
                return null;
            }
        }

        return options;
    }

    private static TimeSpan Seconds(int seconds) => seconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds);

}
