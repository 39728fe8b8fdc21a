using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>
/// The README's cluster, as a person runs it: a redis-server, two <c>cbuff serve --redis</c> processes on different
/// ports, and line clients (as <c>nc</c>) on each: one chat room.
/// </summary>
public class ServeClusterTests
{
    [Fact]
    public async Task Two_cbuff_serve_processes_on_one_Redis_make_one_chat_room()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = $"chat{Guid.NewGuid():N}";
        await using var first = await ServeProcess.StartAsync("--redis", redis.Configuration, "--redis-prefix", prefix);
        await using var second = await ServeProcess.StartAsync("--redis", redis.Configuration, "--redis-prefix", prefix);
        await first.WaitForLineAsync("in the cluster as node");
        await second.WaitForLineAsync("in the cluster as node");

        using var ann = await WireClient.ConnectAsync(first.EndPoint);
        Assert.StartsWith("* welcome, guest", await ann.ReadLineAsync(), StringComparison.Ordinal);
        await ann.SendLineAsync("/nick ann");
        Assert.Equal("* you are now ann", await ann.ReadLineAsync());

        using var bob = await WireClient.ConnectAsync(second.EndPoint);
        var welcome = await bob.ReadLineAsync();
        Assert.Contains("2 here", welcome, StringComparison.Ordinal);           // counts the whole cluster
        var bobGuest = welcome.Split(' ')[2].TrimEnd('.');
        Assert.Equal($"* {bobGuest} joined", await ann.ReadLineAsync());        // a notice across nodes
        await bob.SendLineAsync("/nick bob");
        Assert.Equal("* you are now bob", await bob.ReadLineAsync());
        Assert.Equal($"* {bobGuest} is now bob", await ann.ReadLineAsync());

        await bob.SendLineAsync("hello from the second node");
        Assert.Equal("<bob> hello from the second node", await ann.ReadLineAsync());
        await ann.SendLineAsync("hi bob");
        Assert.Equal("<ann> hi bob", await bob.ReadLineAsync());

        await bob.SendLineAsync("/nick ann");
        Assert.Equal("* ann is taken", await bob.ReadLineAsync());             // names are unique across the cluster
        await bob.SendLineAsync("/who");
        Assert.Equal("* here: ann, bob", await bob.ReadLineAsync());

        await bob.SendLineAsync("/quit");
        Assert.Equal("* bye", await bob.ReadLineAsync());
        Assert.Equal("* bob left", await ann.ReadLineAsync());
    }
}
