using System.Buffers;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>
/// The cluster semantics of the core (envelopes, routing, groups, presence, gaps, outages) over the in-memory
/// backplane: three servers in one process, clients over memory. RedisClusterTests runs the same over Redis.
/// </summary>
public class InMemoryClusterTests
{
    private static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string Text(ReadOnlySequence<byte> message) => Encoding.UTF8.GetString(message);

    [Fact]
    public async Task A_broadcast_reaches_every_client_of_every_node_once_and_in_order_per_sender()
    {
        await using var cluster = await InMemoryCluster.StartAsync(3);
        var peers = new List<InMemoryPeer<ReadOnlySequence<byte>>>();
        foreach (var node in cluster.Nodes)
        {
            peers.Add(await node.ConnectAsync());
            peers.Add(await node.ConnectAsync());
        }

        const int PerSender = 50;
        for (var i = 0; i < PerSender; i++)
        {
            for (var n = 0; n < 3; n++)
            {
                var result = cluster.Nodes[n].Server.SendToAllClients(Line($"{n}:{i}"));
                Assert.Equal(new BroadcastResult(2, 0) { Cluster = ClusterDelivery.Published }, result);
            }
        }

        foreach (var peer in peers)
        {
            var next = new int[3];
            for (var k = 0; k < 3 * PerSender; k++)
            {
                var parts = Text(await peer.ReceiveAsync()).Split(':');
                var sender = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(next[sender]++, int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)); // in order per sender, none twice
            }

            Assert.Equal([PerSender, PerSender, PerSender], next);
        }

        Assert.All(cluster.Nodes, node => Assert.Equal(0, node.Server.Cluster!.Gaps));
    }

    [Fact]
    public async Task Client_ids_carry_their_node_and_the_cluster_sees_every_node_with_its_clients()
    {
        await using var cluster = await InMemoryCluster.StartAsync(3);
        using var a = await cluster.Nodes[0].ConnectAsync();
        using var b = await cluster.Nodes[1].ConnectAsync();
        using var c = await cluster.Nodes[1].ConnectAsync();

        Assert.Equal(cluster.Nodes[0].Server.Cluster!.NodeId, TcpCluster.NodeIdOf(a.ClientId));
        Assert.Equal(cluster.Nodes[1].Server.Cluster!.NodeId, TcpCluster.NodeIdOf(c.ClientId));
        Assert.NotEqual(a.ClientId, b.ClientId);
        Assert.Equal(3, cluster.Nodes[0].Server.Cluster!.Nodes.Count);
        Assert.Equal(3, cluster.Nodes[2].Server.Cluster!.ClientCount);

        cluster.Nodes[1].Server.Cluster!.Metadata = "names: ann, bob";
        Assert.Contains(cluster.Nodes[2].Server.Cluster!.Nodes, node => node.Metadata == "names: ann, bob" && node.ClientCount == 2);
    }

    [Fact]
    public async Task A_send_and_a_close_reach_a_client_of_another_node_and_the_async_forms_return_its_answer()
    {
        await using var cluster = await InMemoryCluster.StartAsync(2);
        var (a, b) = (cluster.Nodes[0], cluster.Nodes[1]);
        using var remote = await b.ConnectAsync();

        Assert.Equal(SendResult.Forwarded, a.Server.SendToClient(remote.ClientId, Line("hello from a")));
        Assert.Equal("hello from a", Text(await remote.ReceiveAsync()));
        Assert.Equal(SendResult.Queued, await a.Server.SendToClientAsync(remote.ClientId, Line("again")));
        Assert.Equal("again", Text(await remote.ReceiveAsync()));

        var unknownOnB = TcpCluster.NodeIdOf(remote.ClientId) << 43 | 999_999;
        Assert.Equal(SendResult.Forwarded, a.Server.SendToClient(unknownOnB, Line("nobody")));   // its node is alive: it decides
        Assert.Equal(SendResult.NotFound, await a.Server.SendToClientAsync(unknownOnB, Line("nobody")));
        Assert.Equal(CloseResult.NotFound, await a.Server.CloseClientAsync(unknownOnB, "nobody"));

        Assert.Equal(CloseResult.Closed, await a.Server.CloseClientAsync(remote.ClientId, "kicked from a"));
        Assert.Equal(ConnectionEnd.Closed, await remote.WaitForEndAsync());
        var end = await b.Handler.WaitForAsync("disconnected", remote.ClientId);
        Assert.Equal(new DisconnectInfo(DisconnectReason.ClosedLocally, "kicked from a"), end.Reason);
    }

    [Fact]
    public async Task A_client_of_a_node_that_is_gone_is_not_found_at_once()
    {
        await using var cluster = await InMemoryCluster.StartAsync(2);
        using var remote = await cluster.Nodes[1].ConnectAsync();
        var id = remote.ClientId;

        cluster.Backplanes[1].Crash();

        Assert.Equal(SendResult.NotFound, cluster.Nodes[0].Server.SendToClient(id, Line("anyone?")));
        Assert.Equal(SendResult.NotFound, await cluster.Nodes[0].Server.SendToClientAsync(id, Line("anyone?")));
        Assert.Equal(CloseResult.NotFound, cluster.Nodes[0].Server.CloseClient(id, "gone"));
        Assert.Single(cluster.Nodes[0].Server.Cluster!.Nodes);
    }

    [Fact]
    public async Task A_group_spans_nodes_only_nodes_with_members_listen_and_membership_ends_with_the_connection()
    {
        await using var cluster = await InMemoryCluster.StartAsync(3);
        var (a, b, c) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);
        using var onA = await a.ConnectAsync();
        using var onC = await c.ConnectAsync();
        using var otherOnC = await c.ConnectAsync();
        using var outsider = await b.ConnectAsync();
        Assert.True(onA.Connection!.JoinGroup("room"));
        Assert.True(onC.Connection!.JoinGroup("room"));
        Assert.False(onC.Connection.JoinGroup("room"));
        Assert.True(otherOnC.Connection!.JoinGroup("room"));

        Assert.Equal(["room"], cluster.Backplanes[0].SubscribedGroups);
        Assert.Empty(cluster.Backplanes[1].SubscribedGroups);            // B has no member: it does not listen
        var fromB = b.Server.SendToGroup("room", Line("to the room"));
        Assert.Equal(new BroadcastResult(0, 0) { Cluster = ClusterDelivery.Published }, fromB);
        Assert.Equal("to the room", Text(await onA.ReceiveAsync()));
        Assert.Equal("to the room", Text(await onC.ReceiveAsync()));
        Assert.Equal("to the room", Text(await otherOnC.ReceiveAsync()));

        var exceptA = a.Server.SendToGroupExcept("room", onA.ClientId, Line("not to onA"));
        Assert.Equal(new BroadcastResult(0, 0) { Cluster = ClusterDelivery.Published }, exceptA); // A's one member is the one skipped
        Assert.Equal("not to onA", Text(await onC.ReceiveAsync()));
        Assert.Equal("not to onA", Text(await otherOnC.ReceiveAsync()));
        var exceptC = a.Server.SendToGroupExcept("room", onC.ClientId, Line("not to onC"));
        Assert.Equal(new BroadcastResult(1, 0) { Cluster = ClusterDelivery.Published }, exceptC);
        Assert.Equal("not to onC", Text(await onA.ReceiveAsync()));
        Assert.Equal("not to onC", Text(await otherOnC.ReceiveAsync()));
        b.Server.SendToGroup("room", Line("check"));
        Assert.Equal("check", Text(await onC.ReceiveAsync())); // not "not to onC": the skipped client got nothing
        Assert.Equal("check", Text(await onA.ReceiveAsync()));
        Assert.Equal("check", Text(await otherOnC.ReceiveAsync()));

        Assert.True(otherOnC.Connection.LeaveGroup("room"));
        Assert.False(otherOnC.Connection.LeaveGroup("room"));
        onC.Reset(); // membership dies with the connection: C has no member left and stops listening
        await c.Handler.WaitForAsync("disconnected", onC.ClientId);
        Assert.Empty(cluster.Backplanes[2].SubscribedGroups);
        Assert.Empty(c.Server.GetGroupMembers("room"));
        Assert.Equal(["room"], onA.Connection.Groups);

        b.Server.SendToGroup("room", Line("last"));
        Assert.Equal("last", Text(await onA.ReceiveAsync()));
        Assert.Empty(outsider.Connection!.Groups);
    }

    [Fact]
    public async Task During_an_outage_local_service_goes_on_remote_sends_say_so_at_once_and_afterwards_delivery_resumes_with_the_gap_counted()
    {
        await using var cluster = await InMemoryCluster.StartAsync(2);
        var (a, b) = (cluster.Nodes[0], cluster.Nodes[1]);
        using var local = await a.ConnectAsync();
        using var remote = await b.ConnectAsync();
        // b's count of a's broadcasts starts here (published, not just queued: a failure below is then a lost envelope)
        Assert.Equal(ClusterDelivery.Published, a.Server.SendToAllClients(Line("before")).Cluster);
        Assert.Equal("before", Text(await remote.ReceiveAsync()));
        Assert.Equal("before", Text(await local.ReceiveAsync()));

        cluster.Hub.IsReachable = false;
        await a.Handler.WaitUntilAsync(events => events.Any(e => e.Kind == "error" && e.Text!.Contains("backplane is unavailable", StringComparison.Ordinal)));
        Assert.False(a.Server.Cluster!.IsConnected);

        Assert.Equal(new BroadcastResult(1, 0) { Cluster = ClusterDelivery.Unavailable }, a.Server.SendToAllClients(Line("lost for b")));
        Assert.Equal("lost for b", Text(await local.ReceiveAsync()));                 // local clients are served
        Assert.Equal(SendResult.BackplaneUnavailable, a.Server.SendToClient(remote.ClientId, Line("x")));
        Assert.Equal(SendResult.BackplaneUnavailable, await a.Server.SendToClientAsync(remote.ClientId, Line("x")));
        Assert.Equal(CloseResult.BackplaneUnavailable, a.Server.CloseClient(remote.ClientId, "x"));
        using var newcomer = await a.ConnectAsync();                                   // and new clients accepted
        Assert.Equal(SendResult.Queued, a.Server.SendToClient(newcomer.ClientId, Line("welcome")));
        Assert.Equal("welcome", Text(await newcomer.ReceiveAsync()));

        cluster.Hub.IsReachable = true;
        Assert.True(a.Server.Cluster.IsConnected);
        Assert.Equal(ClusterDelivery.Published, a.Server.SendToAllClients(Line("back")).Cluster);
        Assert.Equal("back", Text(await remote.ReceiveAsync()));                       // "lost for b" never came: at most once
        Assert.Equal(1, b.Server.Cluster!.Gaps);                                       // but counted
        Assert.Equal(1, a.Handler.Events.Count(e => e.Kind == "error" && e.Text!.Contains("backplane is unavailable", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Envelopes_of_another_protocol_are_refused_and_reported_once()
    {
        await using var cluster = await InMemoryCluster.StartAsync(1, new LineProtocol());
        var other = await cluster.AddNodeAsync(new LengthPrefixedProtocol());
        using var peer = await cluster.Nodes[0].ConnectAsync();

        other.Server.SendToAllClients(Line("framed differently"));
        other.Server.SendToAllClients(Line("again"));
        cluster.Nodes[0].Server.SendToAllClients(Line("ours"));

        Assert.Equal("ours", Text(await peer.ReceiveAsync()));
        await cluster.Nodes[0].Handler.WaitUntilAsync(_ => cluster.Nodes[0].Server.RefusedEnvelopes == 2);
        var error = Assert.Single(cluster.Nodes[0].Handler.Events, e => e.Kind == "error");
        Assert.Contains("another protocol", error.Text, StringComparison.Ordinal);
    }
}
