using CbuffTcp.Connections.IoThreads;

namespace CbuffTcp.Tests.Support;

/// <summary>A test that runs where CbuffTcp has I/O threads (Linux on x86-64 or Arm64) and is skipped elsewhere.</summary>
internal sealed class IoThreadsFactAttribute : FactAttribute
{
    public IoThreadsFactAttribute()
    {
        if (!IoLoops.IsAvailable)
        {
            Skip = "CbuffTcp's I/O threads need Linux on x86-64 or Arm64";
        }
    }
}
