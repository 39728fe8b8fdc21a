using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// A real HAProxy (Debian's package; .ci/run installs it) in TCP mode on a free loopback port, in front of one backend,
/// with <c>send-proxy</c> or <c>send-proxy-v2</c>; in the foreground, stopped by PID. A missing haproxy fails the test.
/// </summary>
public sealed class HaproxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _config;

    private HaproxyProcess(Process process, string config, int port)
    {
        _process = process;
        _config = config;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    /// <summary>Where clients connect: HAProxy's frontend.</summary>
    public IPEndPoint EndPoint { get; }

    /// <param name="backendPort">The server behind it, on 127.0.0.1.</param>
    /// <param name="serverOption"><c>send-proxy</c> (v1) or <c>send-proxy-v2</c>.</param>
    public static async Task<HaproxyProcess> StartAsync(int backendPort, string serverOption)
    {
        var port = LoopbackPorts.Free();
        var config = Path.Combine(Path.GetTempPath(), $"cbuff-haproxy-{Guid.NewGuid():N}.cfg");
        await File.WriteAllTextAsync(config, $"""
            global
              maxconn 100
            defaults
              mode tcp
              timeout connect 5s
              timeout client 30s
              timeout server 30s
            frontend clients
              bind 127.0.0.1:{port}
              default_backend cbuff
            backend cbuff
              server serve 127.0.0.1:{backendPort} {serverOption}

            """);
        var info = new ProcessStartInfo("haproxy") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-f", config, "-db" })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("haproxy did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var haproxy = new HaproxyProcess(process, config, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await haproxy.ListensAsync())
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await haproxy.DisposeAsync();
                throw new InvalidOperationException($"haproxy did not listen on {port} (exited: {process.HasExited})");
            }

            await Task.Delay(20);
        }

        return haproxy;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        _process.Dispose();
        File.Delete(_config);
    }

    /// <summary>A listening probe: bound by the kernel, so a connect succeeds (HAProxy forwards it; the test's server logs it).</summary>
    private async Task<bool> ListensAsync()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await probe.ConnectAsync(EndPoint).WaitAsync(TimeSpan.FromSeconds(2));
            probe.LingerState = new LingerOption(true, 0);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException)
        {
            return false;
        }
    }
}
