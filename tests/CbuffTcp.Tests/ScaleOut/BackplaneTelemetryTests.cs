using System.Buffers;
using System.Text;
using CbuffTcp.Protocols;
using CbuffTcp.Tests.Support;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CbuffTcp.Tests.ScaleOut;

/// <summary>The backplane's log events (50-52) and instruments of docs/telemetry.md, over the in-memory backplane.</summary>
public class BackplaneTelemetryTests
{
    private const string Meter = CbuffTcpTelemetry.MeterName;

    [Fact]
    public async Task Connection_changes_gaps_envelopes_and_refusals_are_logged_and_measured()
    {
        var provider = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(provider).SetMinimumLevel(LogLevel.Debug));
        using var meters = new TestMeterFactory();
        await using var cluster = await InMemoryCluster.StartAsync(1);
        var watched = await cluster.AddNodeAsync(options: new TcpServerOptions { LoggerFactory = logging, MeterFactory = meters });
        using var connected = new MetricCollector<int>(meters, Meter, "cbufftcp.backplane.connected");
        using var gaps = new MetricCollector<long>(meters, Meter, "cbufftcp.backplane.gaps");
        using var envelopes = new MetricCollector<long>(meters, Meter, "cbufftcp.backplane.envelopes");
        using var refused = new MetricCollector<long>(meters, Meter, "cbufftcp.backplane.refused");
        using var peer = await watched.ConnectAsync();
        var other = cluster.Nodes[0].Server;

        other.SendToAllClients(Line("one"));
        Assert.Equal("one", Encoding.UTF8.GetString(await peer.ReceiveAsync()));
        watched.Server.SendToAllClients(Line("from the watched node"));
        Assert.Equal("from the watched node", Encoding.UTF8.GetString(await peer.ReceiveAsync()));

        cluster.Backplanes[1].IsReachable = false;                 // this node alone is cut off
        connected.RecordObservableInstruments();
        Assert.Equal(0, connected.LastMeasurement!.Value);
        other.SendToAllClients(Line("lost"));                      // published, never delivered here
        cluster.Backplanes[1].IsReachable = true;
        other.SendToAllClients(Line("two"));
        Assert.Equal("two", Encoding.UTF8.GetString(await peer.ReceiveAsync()));
        connected.RecordObservableInstruments();
        Assert.Equal(1, connected.LastMeasurement!.Value);
        gaps.RecordObservableInstruments();
        Assert.Equal(1, gaps.LastMeasurement!.Value);

        var foreign = await cluster.AddNodeAsync(new LengthPrefixedProtocol());
        foreign.Server.SendToAllClients(Line("framed otherwise"));
        foreign.Server.SendToAllClients(Line("again"));
        await Eventually.TrueAsync(() => watched.Server.RefusedEnvelopes == 2, "two refused envelopes");
        refused.RecordObservableInstruments();
        Assert.Equal(2, refused.LastMeasurement!.Value);
        envelopes.RecordObservableInstruments();
        Assert.Equal(1, Latest(envelopes, "transmit"));             // its one broadcast
        Assert.Equal(5, Latest(envelopes, "receive"));              // "one", its own back (dropped), "two", the two refused; "lost" never came

        var records = provider.Collector.GetSnapshot();
        Assert.Equal(2, records.Count(r => r.Id.Id == 50 && r.Level == LogLevel.Information)); // joined, then back
        var down = Assert.Single(records, r => r.Id.Id == 51);
        Assert.Equal(LogLevel.Warning, down.Level);
        Assert.Contains("unreachable", down.StructuredState!.Single(p => p.Key == "Detail").Value, StringComparison.Ordinal);
        var refusal = Assert.Single(records, r => r.Id.Id == 52);
        Assert.Contains("another protocol", refusal.StructuredState!.Single(p => p.Key == "What").Value, StringComparison.Ordinal);
        Assert.Equal(watched.Server.Cluster!.NodeId.ToString(System.Globalization.CultureInfo.InvariantCulture), records.First(r => r.Id.Id == 50).StructuredState!.Single(p => p.Key == "NodeId").Value);
    }

    private static ReadOnlySequence<byte> Line(string text) => new(Encoding.UTF8.GetBytes(text));

    private static long Latest(MetricCollector<long> collector, string direction) =>
        collector.GetMeasurementSnapshot().Last(m => Equals(m.Tags["network.io.direction"], direction)).Value;
}
