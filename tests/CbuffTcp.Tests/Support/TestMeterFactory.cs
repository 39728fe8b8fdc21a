using System.Diagnostics.Metrics;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// An <see cref="IMeterFactory"/> whose meters are scoped to it, so a <c>MetricCollector</c> on this factory sees one
/// test's server only, even while other tests run servers in parallel.
/// </summary>
public sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            _meters.ForEach(m => m.Dispose());
            _meters.Clear();
        }
    }
}
