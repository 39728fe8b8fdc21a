using System.Globalization;
using System.Text.RegularExpressions;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>
/// One logical server over a real redis-server (started by the test on a free loopback port): broadcasts, sends,
/// closes and groups across three nodes; a node killed; Redis killed and restarted; a node started before Redis.
/// </summary>
public partial class RedisClusterTests
{
    [Fact]
    public async Task A_broadcast_from_each_of_three_nodes_reaches_every_client_once_in_order_with_one_publish_each()
    {
        await using var cluster = await RedisCluster.StartAsync(3);
        var clients = new List<WireClient>();
        foreach (var node in cluster.Nodes)
        {
            clients.AddRange(await node.ConnectManyAsync(2));
        }

        const int PerSender = 50;
        for (var i = 0; i < PerSender; i++)
        {
            for (var n = 0; n < 3; n++)
            {
                Assert.Equal(ClusterDelivery.Published, cluster.Nodes[n].Server.SendToAllClients(Line($"{n}:{i}")).Cluster);
            }
        }

        foreach (var client in clients)
        {
            var next = new int[3];
            for (var k = 0; k < 3 * PerSender; k++)
            {
                var parts = (await client.ReadLineAsync()).Split(':');
                var sender = int.Parse(parts[0], CultureInfo.InvariantCulture);
                Assert.Equal(next[sender]++, int.Parse(parts[1], CultureInfo.InvariantCulture));
            }
        }

        // One publish per broadcast, whatever the number of clients and nodes: Redis counted them.
        Assert.Equal(3 * PerSender, PublishCalls(await cluster.Redis.CommandAsync("INFO commandstats")));
        Assert.All(cluster.Nodes, n => Assert.Equal(PerSender, n.Server.PublishedEnvelopes));
        Assert.All(cluster.Nodes, n => Assert.Equal(0, n.Server.Cluster!.Gaps));
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Sends_closes_and_group_sends_reach_clients_of_other_nodes()
    {
        await using var cluster = await RedisCluster.StartAsync(3);
        var (a, b, c) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);
        using var onB = await b.ConnectAsync();
        using var onC = await c.ConnectAsync();
        await b.Handler.WaitForNthAsync("connected", 1);
        await c.Handler.WaitForNthAsync("connected", 1);
        var (idB, idC) = (b.ClientIdOf(onB), c.ClientIdOf(onC));

        Assert.Equal(SendResult.Forwarded, a.Server.SendToClient(idB, Line("one")));
        Assert.Equal("one", await onB.ReadLineAsync());
        Assert.Equal(SendResult.Queued, await a.Server.SendToClientAsync(idB, Line("two")));
        Assert.Equal("two", await onB.ReadLineAsync());
        var unknown = (TcpCluster.NodeIdOf(idB) << 43) | 777_777;
        Assert.Equal(SendResult.NotFound, await a.Server.SendToClientAsync(unknown, Line("nobody")));

        Assert.True(b.Server.TryGetClient(idB, out var connectionB));
        Assert.True(connectionB.JoinGroup("room"));
        Assert.True(c.Server.TryGetClient(idC, out var connectionC));
        Assert.True(connectionC.JoinGroup("room"));
        var roomChannel = $"{cluster.BackplaneOptions().ChannelPrefix}:group:room";
        await Eventually.TrueAsync(() => Subscribers(cluster, roomChannel) == 2, "B and C (and not A) listen to the room");
        Assert.Equal(ClusterDelivery.Published, a.Server.SendToGroupExcept("room", idC, Line("room, not C")).Cluster);
        a.Server.SendToGroup("room", Line("room, all"));
        Assert.Equal("room, not C", await onB.ReadLineAsync());
        Assert.Equal("room, all", await onB.ReadLineAsync());
        Assert.Equal("room, all", await onC.ReadLineAsync());

        Assert.Equal(CloseResult.Closed, await a.Server.CloseClientAsync(idC, "closed from a"));
        Assert.True(await onC.WaitForCloseAsync());
        var end = await c.Handler.WaitForAsync("disconnected", idC);
        Assert.Equal(new DisconnectInfo(DisconnectReason.ClosedLocally, "closed from a"), end.Reason);
        Assert.Equal(CloseResult.Forwarded, a.Server.CloseClient(idB, "and b"));
        Assert.True(await onB.WaitForCloseAsync());
    }

    [Fact]
    public async Task A_killed_node_leaves_presence_within_the_expiry_and_its_clients_are_not_found_at_once()
    {
        await using var cluster = await RedisCluster.StartAsync(1);
        var options = cluster.BackplaneOptions();
        await using var killed = await ServeProcess.StartAsync("--redis", options.Configuration, "--redis-prefix", options.ChannelPrefix, "--mode", "chat");
        await cluster.WaitUntilAllSeeAsync(2);
        using var client = await WireClient.ConnectAsync(killed.EndPoint);
        var welcome = await client.ReadLineAsync();
        var id = long.Parse(GuestId().Match(welcome).Groups[1].Value, CultureInfo.InvariantCulture);
        var a = cluster.Nodes[0].Server;
        Assert.Equal(SendResult.Queued, await a.SendToClientAsync(id, Line("through redis")));
        Assert.Equal("through redis", await client.ReadLineAsync());

        killed.Kill(); // SIGKILL: no stop, no goodbye to Redis
        await Eventually.TrueAsync(() => a.Cluster!.Nodes.Count == 1, "the killed node drops out (its presence expires after 5 s)", timeoutSeconds: 30);
        Assert.Equal(SendResult.NotFound, a.SendToClient(id, Line("gone")));
        Assert.Equal(CloseResult.NotFound, a.CloseClient(id, "gone"));
        Assert.Equal(a.ClientCount, a.Cluster!.ClientCount);
    }

    [Fact]
    public async Task With_Redis_killed_local_service_goes_on_and_after_its_restart_remote_delivery_resumes_with_the_gap_counted()
    {
        await using var cluster = await RedisCluster.StartAsync(2);
        var (a, b) = (cluster.Nodes[0], cluster.Nodes[1]);
        using var onA = await a.ConnectAsync();
        using var onB = await b.ConnectAsync();
        await a.Handler.WaitForNthAsync("connected", 1);
        await b.Handler.WaitForNthAsync("connected", 1);
        var idB = b.ClientIdOf(onB);
        a.Server.SendToAllClients(Line("before"));
        Assert.Equal("before", await onA.ReadLineAsync());
        Assert.Equal("before", await onB.ReadLineAsync());

        await cluster.Redis.KillAsync();
        await Eventually.TrueAsync(() => !a.Server.Cluster!.IsConnected && !b.Server.Cluster!.IsConnected, "both nodes see Redis gone");
        Assert.Equal(new BroadcastResult(1, 0) { Cluster = ClusterDelivery.Unavailable }, a.Server.SendToAllClients(Line("during")));
        Assert.Equal("during", await onA.ReadLineAsync());
        Assert.Equal(SendResult.BackplaneUnavailable, a.Server.SendToClient(idB, Line("x")));
        using var newcomer = await a.ConnectAsync();
        await a.Handler.WaitForNthAsync("connected", 2);
        Assert.Equal(SendResult.Queued, a.Server.SendToClient(a.ClientIdOf(newcomer), Line("served")));
        Assert.Equal("served", await newcomer.ReadLineAsync());
        Assert.Single(a.Handler.Events, e => e.Kind == "error" && e.Text!.Contains("backplane is unavailable", StringComparison.Ordinal));

        await cluster.Redis.RestartAsync();
        await cluster.WaitUntilAllSeeAsync(2, timeoutSeconds: 60);
        Assert.Equal(ClusterDelivery.Published, a.Server.SendToAllClients(Line("after")).Cluster);
        Assert.Equal("after", await onB.ReadLineAsync()); // "during" never reached B
        Assert.Equal(1, b.Server.Cluster!.Gaps);
        Assert.Equal(SendResult.Queued, await a.Server.SendToClientAsync(idB, Line("direct again")));
        Assert.Equal("direct again", await onB.ReadLineAsync());
    }

    [Fact]
    public async Task A_node_started_while_Redis_is_down_serves_locally_and_joins_when_Redis_comes()
    {
        await using var cluster = await RedisCluster.StartAsync(1);
        await cluster.Redis.KillAsync();
        await Eventually.TrueAsync(() => !cluster.Nodes[0].Server.Cluster!.IsConnected, "the first node sees Redis gone");

        var late = await cluster.AddNodeAsync();
        Assert.Equal(ServerStatus.Running, late.Server.Status);
        Assert.Equal(0, late.Server.Cluster!.NodeId);
        using var early = await late.ConnectAsync();
        await late.Handler.WaitForNthAsync("connected", 1);
        Assert.Equal(SendResult.Queued, late.Server.SendToClient(late.ClientIdOf(early), Line("served alone")));
        Assert.Equal("served alone", await early.ReadLineAsync());

        await cluster.Redis.RestartAsync();
        await cluster.WaitUntilAllSeeAsync(2, timeoutSeconds: 60);
        Assert.NotEqual(0, late.Server.Cluster.NodeId);
        Assert.NotEqual(cluster.Nodes[0].Server.Cluster!.NodeId, late.Server.Cluster.NodeId);
        cluster.Nodes[0].Server.SendToAllClients(Line("welcome to the cluster"));
        Assert.Equal("welcome to the cluster", await early.ReadLineAsync()); // broadcasts reach the clients it had before joining
    }

    [Fact]
    public async Task A_node_that_drew_the_id_of_a_node_cut_off_while_Redis_lost_its_keys_gives_it_back_and_takes_a_new_one()
    {
        await using var cluster = await RedisCluster.StartAsync(0);
        await using var relay = new TcpRelay(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, cluster.Redis.Port));
        var survivor = await cluster.AddNodeAsync($"127.0.0.1:{relay.EndPoint.Port}");
        await cluster.WaitUntilAllSeeAsync(1);
        var id = survivor.Server.Cluster!.NodeId;

        relay.Cut();
        await Eventually.TrueAsync(() => !survivor.Server.Cluster.IsConnected, "the survivor sees Redis gone");
        await cluster.Redis.CommandAsync("FLUSHALL"); // what a restart without persistence leaves: no id counter, no claims
        var late = await cluster.AddNodeAsync();
        await Eventually.TrueAsync(() => late.Server.Cluster!.IsConnected, "the late node joins");
        Assert.Equal(id, late.Server.Cluster!.NodeId); // the counter was gone and the survivor away: it drew the same id
        using var drewIt = await late.ConnectAsync();
        await late.Handler.WaitForNthAsync("connected", 1);
        var named = late.ClientIdOf(drewIt);
        Assert.Equal(id, TcpCluster.NodeIdOf(named));

        relay.Restore();
        await cluster.WaitUntilAllSeeAsync(2, timeoutSeconds: 60);
        Assert.Equal(id, survivor.Server.Cluster.NodeId); // the older holder keeps its id
        Assert.NotEqual(id, late.Server.Cluster.NodeId);
        var closed = (await late.Handler.WaitForAsync("disconnected", named)).Reason!.Value;
        Assert.Equal(DisconnectReason.ClosedLocally, closed.Reason); // its id now names a client of the survivor
        Assert.Contains($"gave up its cluster id {id}", closed.Detail, StringComparison.Ordinal);

        using var again = await late.ConnectAsync();
        await late.Handler.WaitForNthAsync("connected", 2);
        var renamed = late.ClientIdOf(again);
        Assert.Equal(late.Server.Cluster.NodeId, TcpCluster.NodeIdOf(renamed));
        Assert.Equal(SendResult.Forwarded, survivor.Server.SendToClient(renamed, Line("from the survivor")));
        Assert.Equal("from the survivor", await again.ReadLineAsync());
    }

    private static System.Buffers.ReadOnlySequence<byte> Line(string text) => new(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>PUBSUB NUMSUB's count for one channel: how many nodes listen to it.</summary>
    private static int Subscribers(RedisCluster cluster, string channel)
    {
        var answer = cluster.Redis.CommandAsync($"PUBSUB NUMSUB {channel}").GetAwaiter().GetResult();
        return int.Parse(answer[(answer.LastIndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
    }

    private static int PublishCalls(string commandStats) =>
        int.Parse(PublishStat().Match(commandStats).Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"cmdstat_publish:calls=(\d+)")]
    private static partial Regex PublishStat();

    [GeneratedRegex(@"guest(\d+)")]
    private static partial Regex GuestId();
}
