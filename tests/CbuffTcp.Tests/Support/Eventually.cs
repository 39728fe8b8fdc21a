namespace CbuffTcp.Tests.Support;

/// <summary>Waits for a condition that settles by itself (presence, a reconnect), checking it every 20 ms up to a bound.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, double timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"not within {timeoutSeconds} s: {what}");
            }

            await Task.Delay(20);
        }
    }
}
