using System.Buffers;
using CbuffTcp.Protocols;
using CbuffTcp.Testing;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>Several in-memory servers linked by one <see cref="InMemoryBackplaneHub"/>: a cluster in one process.</summary>
public sealed class InMemoryCluster : IAsyncDisposable
{
    private InMemoryCluster(InMemoryBackplaneHub hub, List<InMemoryFixture<RecordingHandler>> nodes, List<InMemoryBackplane> backplanes)
    {
        Hub = hub;
        Nodes = nodes;
        Backplanes = backplanes;
    }

    public InMemoryBackplaneHub Hub { get; }

    public List<InMemoryFixture<RecordingHandler>> Nodes { get; }

    public List<InMemoryBackplane> Backplanes { get; }

    public static async Task<InMemoryCluster> StartAsync(int nodes, IProtocol<ReadOnlySequence<byte>>? protocol = null)
    {
        var hub = new InMemoryBackplaneHub();
        var cluster = new InMemoryCluster(hub, [], []);
        for (var i = 0; i < nodes; i++)
        {
            await cluster.AddNodeAsync(protocol);
        }

        return cluster;
    }

    public async Task<InMemoryFixture<RecordingHandler>> AddNodeAsync(IProtocol<ReadOnlySequence<byte>>? protocol = null, TcpServerOptions? options = null)
    {
        var backplane = Hub.CreateBackplane();
        options ??= new TcpServerOptions();
        options.Backplane = backplane;
        var node = await InMemoryFixture<RecordingHandler>.StartAsync(new RecordingHandler(), options, protocol ?? new LineProtocol());
        Nodes.Add(node);
        Backplanes.Add(backplane);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
