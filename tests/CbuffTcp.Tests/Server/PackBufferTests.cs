using System.Runtime.ExceptionServices;
using CbuffTcp.Connections;

namespace CbuffTcp.Tests.Server;

/// <summary>Each thread keeps one pack buffer; a nested pack (a protocol's <c>Pack</c> that sends) loses no pooled array.</summary>
public class PackBufferTests
{
    [Fact]
    public void A_nested_pack_gives_its_array_back_instead_of_being_dropped() => OnThreadOfItsOwn(static () =>
    {
        var outer = PackBuffer.Rent();
        var inner = PackBuffer.Rent(); // a send from inside the outer pack
        Assert.NotSame(outer, inner);
        inner.GetSpan(1000);
        inner.Advance(1000);
        outer.GetSpan(10);
        outer.Advance(10);

        PackBuffer.Return(inner);
        PackBuffer.Return(outer);

        // Whichever the thread keeps, the other holds no pooled array any more.
        var kept = PackBuffer.Rent();
        Assert.True(kept == inner || inner.Capacity == 0, "the inner pack's pooled array was dropped with it, never returned");
        Assert.True(kept == outer || outer.Capacity == 0, "the outer pack's pooled array was dropped with it, never returned");
        PackBuffer.Return(kept);
    });

    /// <summary>The cache is per thread: a thread of its own starts with none.</summary>
    internal static void OnThreadOfItsOwn(Action body)
    {
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "the thread did not finish");
        failure?.Throw();
    }
}
