using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace CbuffTcp.Tests.Support;

/// <summary>Runs <c>cbuff serve</c> (built beside the tests) as a real process on 127.0.0.1, port 0.</summary>
public sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private TaskCompletionSource _lineAdded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<EndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServeProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The TCP end point it listens on (not with <c>--unix</c>: see <see cref="ListeningOn"/>).</summary>
    public IPEndPoint EndPoint => ListeningOn as IPEndPoint ?? throw new InvalidOperationException($"cbuff serve listens on {ListeningOn}, not TCP");

    /// <summary>Where it said it listens: an <see cref="IPEndPoint"/>, or a Unix domain socket.</summary>
    public EndPoint ListeningOn { get; private set; } = null!;

    /// <summary>The process id, to kill it without a graceful stop.</summary>
    public int ProcessId => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public static Task<ServeProcess> StartAsync(params string[] args) => StartAsync(maxOpenFiles: null, args);

    /// <summary>Starts <c>cbuff serve</c>; with <paramref name="maxOpenFiles"/>, under that <c>ulimit -n</c>.</summary>
    public static Task<ServeProcess> StartAsync(int? maxOpenFiles, params string[] args) => StartAsync(maxOpenFiles, terminal: false, args);

    /// <summary>Starts <c>cbuff serve</c> on a pseudo-terminal (through <c>script</c>), as a person at a terminal would see it.</summary>
    public static Task<ServeProcess> StartOnTerminalAsync(params string[] args) => StartAsync(maxOpenFiles: null, terminal: true, args);

    /// <summary>Starts <c>cbuff serve</c> with a runtime setting (runtimeconfig.json's configProperties) added.</summary>
    public static Task<ServeProcess> StartWithRuntimeSettingAsync(string name, string value, params string[] args) =>
        StartAsync(maxOpenFiles: null, terminal: false, args, (name, value));

    private static async Task<ServeProcess> StartAsync(int? maxOpenFiles, bool terminal, string[] args, (string Name, string Value)? runtimeSetting = null)
    {
        // A test that names its own I/O mode keeps it; the others run in the mode under test.
        string[] ioMode = args.Contains("--io") ? [] : IoModeUnderTest.ServeArguments;
        string[] port = args.Contains("--port") ? [] : ["--port", "0"]; // a free port, unless the test needs one again
        var process = Start(["serve", "--host", "127.0.0.1", .. port, .. ioMode, .. args], maxOpenFiles, terminal, runtimeSetting);
        var serve = new ServeProcess(process);
        process.OutputDataReceived += (_, e) => serve.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => serve.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            serve.ListeningOn = await serve._listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            await serve.DisposeAsync();
            throw new TimeoutException($"cbuff serve did not print 'listening on'. Output:\n{serve.Output}");
        }

        return serve;
    }

    /// <summary>Runs <c>cbuff</c> with <paramref name="args"/> to its end; returns the exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunToEndAsync(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Waits for the <paramref name="count"/>th line that contains <paramref name="text"/> and returns it; fails after 10 s.</summary>
    public async Task<string> WaitForLineAsync(string text, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            Task added;
            lock (_output)
            {
                if (_output.Where(l => l.Contains(text, StringComparison.Ordinal)).Skip(count - 1).FirstOrDefault() is { } line)
                {
                    return line;
                }

                added = _lineAdded.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || await Task.WhenAny(added, Task.Delay(left)) != added)
            {
                throw new TimeoutException($"'{text}' did not appear {count}× in the output of cbuff serve:\n{Output}");
            }
        }
    }

    /// <summary>The server's resident memory now (VmRSS), in bytes.</summary>
    public long ResidentBytes()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Sends SIGTERM and waits for the process to exit; returns its exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash would: no graceful stop.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(20_000);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static Process Start(string[] args, int? maxOpenFiles = null, bool terminal = false, (string Name, string Value)? runtimeSetting = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "cbuff.dll");
        if (terminal)
        {
            // script(1) runs the command on a new pseudo-terminal and copies what it shows to our redirected stdout.
            var command = string.Join(' ', new[] { "dotnet", dll }.Concat(args).Select(a => $"'{a}'"));
            var pty = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-q", "-f", "-e", "-c", command, "/dev/null" })
            {
                pty.ArgumentList.Add(arg);
            }

            return Process.Start(pty) ?? throw new InvalidOperationException("could not start script");
        }

        var info = new ProcessStartInfo(maxOpenFiles is null ? "dotnet" : "bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (maxOpenFiles is { } limit)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"ulimit -n {limit} && exec dotnet \"$0\" \"$@\"");
        }

        if (runtimeSetting is { } setting)
        {
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add("--runtimeconfig");
            info.ArgumentList.Add(RuntimeConfigWith(dll, setting.Name, setting.Value));
        }

        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start cbuff");
    }

    /// <summary>A copy of the tool's runtimeconfig.json with one more configProperty, in a temporary file.</summary>
    private static string RuntimeConfigWith(string dll, string name, string value)
    {
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(dll, ".runtimeconfig.json")))!;
        config["runtimeOptions"]!["configProperties"]![name] = value;
        var path = Path.Combine(Path.GetTempPath(), $"cbuff-{Guid.NewGuid():N}.runtimeconfig.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private void OnLine(string? text)
    {
        if (text is null)
        {
            return;
        }

        // A terminal's output: colours and cursor moves stripped, and a line redrawn in place (\r) is a line each time.
        foreach (var line in AnsiEscape().Replace(text, string.Empty).Split('\r', StringSplitOptions.RemoveEmptyEntries))
        {
            OnPlainLine(line);
        }
    }

    private void OnPlainLine(string line)
    {
        TaskCompletionSource added;
        lock (_output)
        {
            _output.Add(line);
            added = _lineAdded;
            _lineAdded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        added.TrySetResult();

        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(match.Groups["unix"].Success
                ? new System.Net.Sockets.UnixDomainSocketEndPoint(match.Groups["unix"].Value)
                : new IPEndPoint(IPAddress.Parse(match.Groups["address"].Value), int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [GeneratedRegex(@"^listening on (unix:(?<unix>\S+)|(?<address>\S+):(?<port>\d+))$")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"\x1b(\[[0-9;?]*[A-Za-z]|[=>])")]
    private static partial Regex AnsiEscape();
}
