using System.Globalization;
using System.Net;

namespace CbuffTcp.Cli;

internal enum WireProtocol
{
    Line,
    Length,
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
    string? TlsPassword)
{
    /// <summary>Parses the arguments after <c>serve</c>; on a bad option returns null and the error text.</summary>
    public static ServeOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var host = IPAddress.Any;
        var port = 9000;
        var protocol = WireProtocol.Line;
        ServeMode? mode = null;
        var maxFrame = 1024 * 1024;
        var sendQueueLimit = 4 * 1024 * 1024;
        var maxConnections = 10_000;
        var maxConnectionsPerIp = 10_000;
        var idleSeconds = 600;
        var frameSeconds = 30;
        string? tlsCertificate = null;
        string? tlsPassword = null;
        error = OptionArgs.Read(args, (name, value) => name switch
        {
            "--host" => IPAddress.TryParse(value, out host!) ? null : $"--host: '{value}' is not an IP address",
            "--port" => OptionArgs.ParseInt(value, 0, 65535, out port) ? null : $"--port: '{value}' is not a port (0-65535)",
            "--protocol" => OptionArgs.ParseEnum(value, out protocol)
                ? null : $"--protocol: '{value}' is not one of line, length",
            "--mode" => ParseMode(value, out mode),
            "--max-frame" => OptionArgs.ParseInt(value, 1, 1024 * 1024 * 1024, out maxFrame) ? null : $"--max-frame: '{value}' is not a size from 1 to 1073741824",
            "--send-queue-limit" => OptionArgs.ParseInt(value, 1, int.MaxValue, out sendQueueLimit) ? null : $"--send-queue-limit: '{value}' is not a positive byte count",
            "--max-connections" => OptionArgs.ParseInt(value, 1, int.MaxValue, out maxConnections) ? null : $"--max-connections: '{value}' is not a positive count",
            "--max-connections-per-ip" => OptionArgs.ParseInt(value, 1, int.MaxValue, out maxConnectionsPerIp) ? null : $"--max-connections-per-ip: '{value}' is not a positive count",
            "--idle-timeout" => OptionArgs.ParseInt(value, 0, int.MaxValue / 1000, out idleSeconds) ? null : $"--idle-timeout: '{value}' is not a number of seconds (0 turns it off)",
            "--frame-timeout" => OptionArgs.ParseInt(value, 0, int.MaxValue / 1000, out frameSeconds) ? null : $"--frame-timeout: '{value}' is not a number of seconds (0 turns it off)",
            "--tls-cert" => Accept(value, out tlsCertificate),
            "--tls-password" => Accept(value, out tlsPassword),
            _ => $"unknown option '{name}'",
        });
        if (error is not null)
        {
            return null;
        }

        var resolvedMode = mode ?? (protocol == WireProtocol.Line ? ServeMode.Chat : ServeMode.Echo);
        if (resolvedMode == ServeMode.Chat && protocol != WireProtocol.Line)
        {
            error = "--mode chat needs --protocol line";
            return null;
        }

        if (tlsPassword is not null && tlsCertificate is null)
        {
            error = "--tls-password needs --tls-cert";
            return null;
        }

        return new ServeOptions(host, port, protocol, resolvedMode, maxFrame, sendQueueLimit, maxConnections, maxConnectionsPerIp, Seconds(idleSeconds), Seconds(frameSeconds), tlsCertificate, tlsPassword);
    }

    private static string? ParseMode(string value, out ServeMode? mode)
    {
        mode = null;
        if (OptionArgs.ParseEnum<ServeMode>(value, out var parsed))
        {
            mode = parsed;
            return null;
        }

        return $"--mode: '{value}' is not one of chat, echo, broadcast";
    }

    /// <summary>Takes a free-form value (a path, a password): always valid, so no error.</summary>
    private static string? Accept(string value, out string? target)
    {
        target = value;
        return null;
    }

    private static TimeSpan Seconds(int seconds) => seconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds);

}
