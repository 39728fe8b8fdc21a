using CbuffTcp.Protocols;
using CbuffTcp.Redis;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>Servers on 127.0.0.1 linked through a real redis-server, with a fast heartbeat so presence settles in a second.</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly string _prefix = $"test{Guid.NewGuid():N}";

    private RedisCluster(RedisServer redis) => Redis = redis;

    public RedisServer Redis { get; }

    public List<ServerFixture<RecordingHandler>> Nodes { get; } = [];

    public static async Task<RedisCluster> StartAsync(int nodes)
    {
        var cluster = new RedisCluster(await RedisServer.StartAsync());
        try
        {
            for (var i = 0; i < nodes; i++)
            {
                await cluster.AddNodeAsync();
            }

            await cluster.WaitUntilAllSeeAsync(nodes);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync(); // the test never gets the cluster to dispose: stop redis-server here
            throw;
        }
    }

    public RedisBackplaneOptions BackplaneOptions(string? configuration = null) => new()
    {
        Configuration = configuration ?? Redis.Configuration,
        ChannelPrefix = _prefix,
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        PresenceExpiry = TimeSpan.FromSeconds(1),
    };

    /// <summary>Starts a node on this Redis, or on <paramref name="configuration"/> (a relay to it, say).</summary>
    public async Task<ServerFixture<RecordingHandler>> AddNodeAsync(string? configuration = null)
    {
        var node = await ServerFixture<RecordingHandler>.StartAsync(new RecordingHandler(), new TcpServerOptions { Backplane = new RedisBackplane(BackplaneOptions(configuration)) }, new LineProtocol());
        Nodes.Add(node);
        return node;
    }

    /// <summary>Waits (bounded) until every node is connected and sees <paramref name="count"/> live nodes.</summary>
    /// <summary>Until every node is connected and sees <paramref name="count"/> nodes; after a Redis restart, give the reconnects more time (a loaded CI machine took over 20 s once).</summary>
    public async Task WaitUntilAllSeeAsync(int count, double timeoutSeconds = 20)
    {
        try
        {
            await Eventually.TrueAsync(() => Nodes.All(n => n.Server.Cluster!.IsConnected && n.Server.Cluster.Nodes.Count == count), $"every node sees {count} nodes", timeoutSeconds);
        }
        catch (TimeoutException ex)
        {
            // Which node is behind, and how: connected or not, its id, the ids it sees.
            var states = Nodes.Select(n => n.Server.Cluster!).Select(c => $"node {c.NodeId}: connected {c.IsConnected}, sees [{string.Join(", ", c.Nodes.Select(node => node.NodeId))}]");
            throw new TimeoutException($"{ex.Message}; {string.Join("; ", states)}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        await Redis.DisposeAsync();
    }
}
