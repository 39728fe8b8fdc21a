using System.CommandLine;
using System.Net;

namespace CbuffTcp.Cli.Bench;

internal enum BenchMode
{
    Echo,
    Broadcast,

    /// <summary>Connects and holds the connections, sending nothing: the server's memory per idle connection.</summary>
    Idle,

    /// <summary>
    /// New connections per second: each connection in turn connects (with <c>--tls</c>, completes a handshake), sends
    /// one message, checks its echo and resets, over and over. A message is one whole connection.
    /// </summary>
    Handshake,
}

/// <summary>Where the generator's socket continuations run.</summary>
internal enum BenchIo
{
    /// <summary>On the thread pool, as .NET runs them by default.</summary>
    ThreadPool,

    /// <summary>
    /// On the runtime's socket engine thread (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> for this process):
    /// no hop to a pool thread per read, so less CPU per message when the generator is the busier side.
    /// </summary>
    Inline,
}

/// <summary>The parsed options of <c>cbuff bench</c>.</summary>
internal sealed record BenchOptions(
    IPAddress Host,
    int Port,
    WireProtocol Protocol,
    BenchMode Mode,
    int Connections,
    int Senders,
    int Size,
    int Depth,
    TimeSpan Duration,
    TimeSpan Warmup,
    double? Rate,
    BenchIo Io,
    string? JsonPath,
    string? PlotPath,
    string? UnixSocket,
    int[] Ports,
    bool Tls)
{
    /// <summary>The server: its Unix socket when one is given, else its TCP address and port.</summary>
    public EndPoint Target => UnixSocket is { } path ? new System.Net.Sockets.UnixDomainSocketEndPoint(path) : new IPEndPoint(Host, Port);

    /// <summary>Where connection <paramref name="index"/> goes: with <c>--ports</c>, round robin over them (senders first, on the first).</summary>
    public EndPoint TargetOf(int index) => Ports.Length == 0 ? Target : new IPEndPoint(Host, Ports[index % Ports.Length]);

    /// <summary>The server as a person wrote it, for messages.</summary>
    public string TargetName => UnixSocket is { } path ? $"unix:{path}" : $"{Host}:{Port}";

    /// <summary>Bytes of a message that identify it (sender and sequence number); the rest is a fill pattern.</summary>
    public int IdSize => Protocol == WireProtocol.Length ? 8 : 16;

    /// <summary>The options of <c>cbuff bench</c>, as System.CommandLine parses them.</summary>
    public static class Cli
    {
        public static readonly Option<IPAddress> Host = CommandLineOptions.Address("--host", "Server address.", IPAddress.Loopback);
        public static readonly Option<int> Port = CommandLineOptions.Int("--port", "Server port.", 9000, 1, 65535, "a port (1-65535)");
        public static readonly Option<WireProtocol> Protocol = CommandLineOptions.Enum("--protocol", "Wire format.", WireProtocol.Length);
        public static readonly Option<BenchMode> Mode = CommandLineOptions.Enum("--mode", "echo: each message comes back to its sender. broadcast: each message reaches every client, and every client counts them. idle: connect and hold the connections, sending nothing, for --seconds. handshake: each connection connects (with --tls, shakes hands), sends one message, checks its echo and resets, over and over: new connections per second.", BenchMode.Echo);
        public static readonly Option<int> Connections = CommandLineOptions.Int("--connections", "Connections.", 1, 1, 1_000_000, "a count from 1");
        public static readonly Option<int> Senders = CommandLineOptions.Int("--senders", "Connections that send, in broadcast (default: all).", 0, 1, 1_000_000, "a count from 1");
        public static readonly Option<int> Size = CommandLineOptions.Int("--size", "Payload bytes per message.", 32, 0, 64 * 1024 * 1024, "a message size in bytes");
        public static readonly Option<int> Depth = CommandLineOptions.Int("--depth", "Messages in flight per sender (closed loop).", 1, 1, 65_536, "a count from 1 to 65536");
        public static readonly Option<double> Rate = CommandLineOptions.Number("--rate", "Open loop instead: this many messages/s in all, each timed from when it was due.", 0, 1, "a number of messages per second");
        public static readonly Option<BenchIo> Io = CommandLineOptions.Enum("--io", "threadpool: socket continuations run on the thread pool. inline: on the runtime's socket engine thread (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 for this process), cheaper per message where the generator is the busier side, as with large messages.", BenchIo.ThreadPool);
        public static readonly Option<double> Seconds = CommandLineOptions.Number("--seconds", "Measured time, in seconds.", 10, 0.1, "a duration in seconds (at least 0.1)");
        public static readonly Option<double> Warmup = CommandLineOptions.Number("--warmup", "Unmeasured time first, in seconds.", 2, 0, "a duration in seconds");
        public static readonly Option<string?> Json = CommandLineOptions.Text("--json", "Also write the figures as JSON.", "FILE");
        public static readonly Option<string?> Plot = CommandLineOptions.Text("--plot", "Also draw latency by percentile and throughput over time (.png or .svg).", "FILE");

        public static readonly Option<string?> Unix = CommandLineOptions.Text("--unix", "Connect to this Unix domain socket instead of TCP (--host and --port then do not apply).", "PATH");

        public static readonly Option<string?> Ports = CommandLineOptions.Text("--ports", "Spread the connections round robin over these ports of --host instead of --port (the nodes of a cluster: cbuff serve --redis); the senders come first, so one sender is on the first port.", "P1,P2,...");

        public static readonly Option<bool> Tls = new("--tls") { Description = "Speak TLS 1.3 (SslStream; the server's certificate is not checked: a benchmark, not a client)." };

        public static IEnumerable<Option> All => [Host, Port, Ports, Unix, Tls, Protocol, Mode, Connections, Senders, Size, Depth, Rate, Io, Seconds, Warmup, Json, Plot];
    }

    /// <summary>The options of a parsed command line, or null and why when they do not go together.</summary>
    public static BenchOptions? From(ParseResult result, out string? error)
    {
        var connections = result.GetValue(Cli.Connections);
        var senders = result.GetValue(Cli.Senders);
        var rate = result.GetValue(Cli.Rate);
        var plot = result.GetValue(Cli.Plot);
        var options = new BenchOptions(
            result.GetValue(Cli.Host)!,
            result.GetValue(Cli.Port),
            result.GetValue(Cli.Protocol),
            result.GetValue(Cli.Mode),
            connections,
            senders == 0 ? connections : senders,
            result.GetValue(Cli.Size),
            result.GetValue(Cli.Depth),
            TimeSpan.FromSeconds(result.GetValue(Cli.Seconds)),
            TimeSpan.FromSeconds(result.GetValue(Cli.Warmup)),
            rate == 0 ? null : rate,
            result.GetValue(Cli.Io),
            result.GetValue(Cli.Json),
            plot,
            result.GetValue(Cli.Unix),
            ParsePorts(result.GetValue(Cli.Ports), out var portsError),
            result.GetValue(Cli.Tls));
        error = portsError ?? (plot is null ? null : BenchPlot.Check(plot)) ?? options.Validate();
        return error is null ? options : null;
    }

    private static int[] ParsePorts(string? text, out string? error)
    {
        error = null;
        if (text is null)
        {
            return [];
        }

        var ports = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                error = $"--ports: '{part}' is not a port (1-65535); give them as P1,P2,...";
                return [];
            }

            ports.Add(port);
        }

        return [.. ports];
    }

    private string? Validate()
    {
        if (Ports.Length > 0 && UnixSocket is not null)
        {
            return "--ports and --unix do not go together";
        }

        if (Protocol == WireProtocol.Raw)
        {
            return "--protocol raw has no frames to time: cbuff bench speaks line or length";
        }

        if (Senders > Connections)
        {
            return $"--senders {Senders} is more than --connections {Connections}";
        }

        if (Mode == BenchMode.Broadcast && Size < IdSize)
        {
            return $"--mode broadcast needs --size of at least {IdSize} with --protocol {Protocol.ToString().ToLowerInvariant()}: every message names its sender";
        }

        if (Protocol == WireProtocol.Line && Size == 0)
        {
            return "--protocol line needs --size of at least 1";
        }

        if (Mode == BenchMode.Handshake && Depth != 1)
        {
            return "--mode handshake sends one message per connection: --depth does not apply";
        }

        return Rate is not null && Mode != BenchMode.Echo ? "--rate is for --mode echo" : null;
    }
}
