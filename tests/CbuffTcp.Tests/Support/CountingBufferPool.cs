using System.Buffers;
using System.Collections.Concurrent;

namespace CbuffTcp.Tests.Support;

/// <summary>
/// A byte pool that knows every array it lent and not yet got back, so a test can assert that none is left outstanding
/// (a leak) and none came back twice (a corruption waiting to happen), and read the peak bytes lent at once.
/// </summary>
public sealed class CountingBufferPool : ArrayPool<byte>
{
    private readonly ConcurrentDictionary<byte[], byte> _lent = new(ReferenceEqualityComparer.Instance);
    private long _lentBytes;
    private long _peakBytes;
    private int _doubleReturns;

    public int Outstanding => _lent.Count;

    public long OutstandingBytes => Interlocked.Read(ref _lentBytes);

    public long PeakBytes => Interlocked.Read(ref _peakBytes);

    public int DoubleReturns => Volatile.Read(ref _doubleReturns);

    public override byte[] Rent(int minimumLength)
    {
        var array = new byte[minimumLength]; // never reused: a use after return cannot hide behind another rental
        _lent[array] = 0;
        var now = Interlocked.Add(ref _lentBytes, array.Length);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak)
        {
        }

        return array;
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        if (_lent.TryRemove(array, out _))
        {
            Interlocked.Add(ref _lentBytes, -array.Length);
        }
        else
        {
            Interlocked.Increment(ref _doubleReturns);
        }
    }

    /// <summary>Asserts everything lent is back and nothing came back twice. Call it once the server has stopped:
    /// <c>StopAsync</c> returns only after every connection released its buffers.</summary>
    public void AssertAllReturned()
    {
        Assert.True(Outstanding == 0, $"{Outstanding} pooled buffers ({OutstandingBytes} bytes) were never returned");
        Assert.Equal(0, DoubleReturns);
    }
}
