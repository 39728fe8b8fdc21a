using System.Globalization;
using System.Net;

namespace CbuffTcp.Cli.Bench;

internal enum BenchMode
{
    Echo,
    Broadcast,

    /// <summary>Connects and holds the connections, sending nothing: the server's memory per idle connection.</summary>
    Idle,
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
    string? JsonPath,
    string? PlotPath)
{
    /// <summary>Bytes of a message that identify it (sender and sequence number); the rest is a fill pattern.</summary>
    public int IdSize => Protocol == WireProtocol.Length ? 8 : 16;

    public static BenchOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var host = IPAddress.Loopback;
        var port = 9000;
        var protocol = WireProtocol.Length;
        var mode = BenchMode.Echo;
        var connections = 1;
        int? senders = null;
        var size = 32;
        var depth = 1;
        var seconds = 10.0;
        var warmup = 2.0;
        double? rate = null;
        string? json = null;
        string? plot = null;
        error = OptionArgs.Read(args, (name, value) => name switch
        {
            "--host" => IPAddress.TryParse(value, out host!) ? null : $"--host: '{value}' is not an IP address",
            "--port" => OptionArgs.ParseInt(value, 1, 65535, out port) ? null : $"--port: '{value}' is not a port (1-65535)",
            "--protocol" => OptionArgs.ParseEnum(value, out protocol)
                ? null : $"--protocol: '{value}' is not one of length, line",
            "--mode" => OptionArgs.ParseEnum(value, out mode)
                ? null : $"--mode: '{value}' is not one of echo, broadcast, idle",
            "--connections" => OptionArgs.ParseInt(value, 1, 1_000_000, out connections) ? null : $"--connections: '{value}' is not a count from 1",
            "--senders" => OptionArgs.ParseInt(value, 1, 1_000_000, out var s) ? Set(s, out senders) : $"--senders: '{value}' is not a count from 1",
            "--size" => OptionArgs.ParseInt(value, 0, 64 * 1024 * 1024, out size) ? null : $"--size: '{value}' is not a message size in bytes",
            "--depth" => OptionArgs.ParseInt(value, 1, 65_536, out depth) ? null : $"--depth: '{value}' is not a count from 1 to 65536",
            "--seconds" => ParseSeconds(value, 0.1, out seconds) ? null : $"--seconds: '{value}' is not a duration in seconds (at least 0.1)",
            "--warmup" => ParseSeconds(value, 0, out warmup) ? null : $"--warmup: '{value}' is not a duration in seconds",
            "--rate" => ParseSeconds(value, 1, out var r) ? Set(r, out rate) : $"--rate: '{value}' is not a number of messages per second",
            "--json" => Set(value, out json),
            "--plot" => BenchPlot.Check(value) ?? Set(value, out plot),
            _ => $"unknown option '{name}'",
        });
        if (error is not null)
        {
            return null;
        }

        var options = new BenchOptions(host, port, protocol, mode, connections, senders ?? connections, size, depth, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(warmup), rate, json, plot);
        error = options.Validate();
        return error is null ? options : null;
    }

    private string? Validate()
    {
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

        return Rate is not null && Mode != BenchMode.Echo ? "--rate is for --mode echo" : null;
    }

    private static string? Set<T>(T value, out T? target)
    {
        target = value;
        return null;
    }


    private static bool ParseSeconds(string value, double min, out double result) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result) && result >= min && double.IsFinite(result);
}
