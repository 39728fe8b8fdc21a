using System.Buffers;

namespace CbuffTcp.Protocols;

internal static class SequenceWriting
{
    /// <summary>Copies every segment of <paramref name="source"/> into <paramref name="output"/>.</summary>
    public static void WriteSequence(this IBufferWriter<byte> output, in ReadOnlySequence<byte> source)
    {
        if (source.IsSingleSegment)
        {
            output.Write(source.FirstSpan);
            return;
        }

        foreach (var segment in source)
        {
            output.Write(segment.Span);
        }
    }
}
