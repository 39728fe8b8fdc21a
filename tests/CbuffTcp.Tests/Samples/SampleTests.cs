using System.Diagnostics;
using System.Text.RegularExpressions;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Samples;

/// <summary>Every sample runs as it is, built by the same solution build as the tests.</summary>
public partial class SampleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task BinaryRpc_answers_every_call_and_exits_zero()
    {
        using var sample = StartSample("BinaryRpc");
        var output = await sample.StandardOutput.ReadToEndAsync().WaitAsync(Bound);
        await sample.WaitForExitAsync().WaitAsync(Bound);
        Assert.True(sample.ExitCode == 0, output + await sample.StandardError.ReadToEndAsync());
        Assert.Contains("Add(40, 2) = 42", output, StringComparison.Ordinal);
        Assert.Contains("Add(3 bytes) = Error: Add takes two 32-bit integers", output, StringComparison.Ordinal);
        Assert.Contains("100 concurrent calls: every answer matched its request", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EchoServer_echoes_and_stops_when_its_input_ends()
    {
        using var sample = StartSample("EchoServer", "0");
        var line = await sample.StandardOutput.ReadLineAsync().WaitAsync(Bound);
        var port = int.Parse(EchoPort().Match(line!).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        using (var client = await WireClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port)))
        {
            await client.SendLengthFrameAsync("sample"u8);
            Assert.Equal("sample"u8.ToArray(), await client.ReadLengthFrameAsync());
        }

        sample.StandardInput.Close(); // "Enter stops it": end of input does too
        await sample.WaitForExitAsync().WaitAsync(Bound);
        Assert.Equal(0, sample.ExitCode);
    }

    [Fact]
    public async Task HostedChat_reads_its_appsettings_and_relays_between_clients()
    {
        // Ports 0 from the command line (they override appsettings.json); everything else as shipped.
        using var sample = StartSample("HostedChat", "--CbuffTcp:Port=0", "--Health:Port=0");
        try
        {
            var port = await ReadListeningPortAsync(sample);
            var server = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
            using var alice = await WireClient.ConnectAsync(server);
            Assert.StartsWith("welcome, you are #", await alice.ReadLineAsync(), StringComparison.Ordinal);
            using var bob = await WireClient.ConnectAsync(server);
            Assert.StartsWith("welcome, you are #", await bob.ReadLineAsync(), StringComparison.Ordinal);
            Assert.EndsWith("joined", await alice.ReadLineAsync(), StringComparison.Ordinal);

            await alice.SendLineAsync("hi bob");
            Assert.EndsWith(": hi bob", await bob.ReadLineAsync(), StringComparison.Ordinal);

            // Its health check, on the TCP probe port: running, 2 of 1000 connections.
            var healthPort = await ReadHealthPortAsync(sample);
            using var probe = await WireClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, healthPort));
            Assert.Equal("Healthy", await probe.ReadLineAsync());
            Assert.Contains("cbufftcp: Healthy (Running: 2 of 1000 connections.)", await probe.ReadLineAsync(), StringComparison.Ordinal);
        }
        finally
        {
            sample.Kill(entireProcessTree: true);
            await sample.WaitForExitAsync().WaitAsync(Bound);
        }
    }

    /// <summary>The host logs event 1, "CbuffTcp server listening on ADDRESS:PORT, serving up to 1000 connections".</summary>
    private static async Task<int> ReadListeningPortAsync(Process sample)
    {
        var seen = new List<string>();
        while (await sample.StandardOutput.ReadLineAsync().WaitAsync(Bound) is { } line)
        {
            seen.Add(line);
            if (HostListening().Match(line) is { Success: true } match)
            {
                Assert.Contains("serving up to 1000 connections", line, StringComparison.Ordinal); // MaxConnections from appsettings.json
                return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("HostedChat ended without listening:\n" + string.Join('\n', seen));
    }

    /// <summary>HostedChat's health probe logs "health probe on ADDRESS:PORT" once it listens.</summary>
    private static async Task<int> ReadHealthPortAsync(Process sample)
    {
        while (await sample.StandardOutput.ReadLineAsync().WaitAsync(Bound) is { } line)
        {
            if (HealthProbeListening().Match(line) is { Success: true } match)
            {
                return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("HostedChat ended without its health probe listening");
    }

    [GeneratedRegex(@"health probe on 127\.0\.0\.1:(\d+)")]
    private static partial Regex HealthProbeListening();

    private static Process StartSample(string name, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(SamplePath(name));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {name}");
    }

    /// <summary>samples/NAME/bin/CONFIGURATION/net10.0/NAME.dll, built in the configuration these tests were built in.</summary>
    private static string SamplePath(string name)
    {
        var testDirectory = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = testDirectory.Name;
        var configuration = testDirectory.Parent!.Name;
        var path = RepositoryFiles.PathOf("samples", name, "bin", configuration, framework, name + ".dll");
        Assert.True(File.Exists(path), $"{path} is not built: build the solution (dotnet test CbuffTcp.slnx builds it)");
        return path;
    }

    [GeneratedRegex(@"echo server on \S*:(\d+);")]
    private static partial Regex EchoPort();

    [GeneratedRegex(@"listening on [^:]+:(\d+)")]
    private static partial Regex HostListening();
}
