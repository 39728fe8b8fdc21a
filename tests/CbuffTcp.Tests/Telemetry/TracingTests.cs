using System.Collections.Concurrent;
using System.Diagnostics;
using CbuffTcp.Tests.Support;

namespace CbuffTcp.Tests.Telemetry;

/// <summary>The spans of docs/telemetry.md: a server's start and stop; none per connection or message.</summary>
public class TracingTests
{
    [Fact]
    public async Task Start_and_stop_are_spans_and_messages_are_not()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CbuffTcpTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        var fixture = await ServerFixture<EchoHandler>.StartAsync(new EchoHandler());
        var port = fixture.EndPoint.Port;
        await using (fixture)
        {
            using var client = await fixture.ConnectAsync();
            for (var i = 0; i < 5; i++)
            {
                await client.SendLengthFrameAsync("x"u8);
                await client.ReadLengthFrameAsync();
            }
        }

        // Other tests run servers in parallel: this one's start span carries its port.
        var start = Assert.Single(spans, s => s.OperationName == "cbufftcp.server.start" && Equals(s.GetTagItem("server.port"), port));
        Assert.Equal("127.0.0.1", start.GetTagItem("server.address"));
        Assert.Contains(spans, s => s.OperationName == "cbufftcp.server.stop");
        Assert.All(spans, s => Assert.StartsWith("cbufftcp.", s.OperationName, StringComparison.Ordinal));
        Assert.DoesNotContain(spans, s => s.OperationName.Contains("message", StringComparison.Ordinal));
    }
}
