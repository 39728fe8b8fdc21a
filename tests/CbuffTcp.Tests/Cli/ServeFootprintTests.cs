using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Cli;

/// <summary>
/// What a plain <c>cbuff serve</c> keeps out of its memory: a server without TLS, a terminal or Redis never loads their
/// assemblies (System.Net.Security, the cryptography library and Spectre.Console alone are 1.9 MiB of RSS), because the
/// code that would need them sits in methods of its own, compiled only when used. docs/benchmarks.md, peak RSS.
/// </summary>
public class ServeFootprintTests
{
    [Fact]
    public async Task A_plain_echo_server_maps_no_tls_cryptography_terminal_or_redis_assembly_after_serving_a_client()
    {
        await using var serve = await ServeProcess.StartAsync("--protocol", "length", "--mode", "echo");
        using (var client = await WireClient.ConnectAsync(serve.EndPoint))
        {
            await client.SendAsync(WireClient.LengthFrame("ping"u8.ToArray()));
            Assert.Equal("ping"u8.ToArray(), await client.ReadLengthFrameAsync());
        }

        var maps = await File.ReadAllTextAsync($"/proc/{serve.ProcessId}/maps");
        Assert.Contains("CbuffTcp.dll", maps, StringComparison.Ordinal); // the check reads the right process
        foreach (var assembly in new[] { "System.Net.Security.dll", "System.Security.Cryptography.dll", "Spectre.Console.dll", "StackExchange.Redis.dll" })
        {
            Assert.DoesNotContain(assembly, maps, StringComparison.Ordinal);
        }
    }
}
