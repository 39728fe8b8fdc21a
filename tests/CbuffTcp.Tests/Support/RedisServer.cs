using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// A real <c>redis-server</c> (Debian's package; .ci/run installs it) on a free loopback port, persistence off,
/// stopped by PID. It can be killed and started again on the same port, for outage tests. A missing redis-server
/// fails the test: it never skips.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(LoopbackPorts.Free());
        try
        {
            await server.RestartAsync();
            return server;
        }
        catch
        {
            await server.KillAsync(); // one that started but never answered: the caller gets nothing to dispose
            throw;
        }
    }

    /// <summary>Starts redis-server (again) on <see cref="Port"/> and returns once it answers.</summary>
    public async Task RestartAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException("redis-server is running already");
        }

        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no" })
        {
            info.ArgumentList.Add(argument);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await AnswersPingAsync())
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not come up (exited: {_process.HasExited})");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Kills redis-server (SIGKILL, by PID) and waits for it to be gone.</summary>
    public async Task KillAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        process.Dispose();
        _process = null;
    }

    /// <summary>Runs one command through RESP (inline form) and returns the first line of the answer.</summary>
    public async Task<string> CommandAsync(string command)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port)).WaitAsync(TimeSpan.FromSeconds(5));
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(command + "\r\n"));
        var buffer = new byte[64 * 1024];
        var read = await socket.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(5));
        return System.Text.Encoding.ASCII.GetString(buffer, 0, read);
    }

    public ValueTask DisposeAsync() => new(KillAsync());

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            return (await CommandAsync("PING")).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException)
        {
            return false;
        }
    }
}
