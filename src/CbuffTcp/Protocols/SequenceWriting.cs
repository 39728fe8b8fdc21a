using System.Buffers;

namespace CbuffTcp.Protocols;

internal static class SequenceWriting
{
    /// <summary>
    /// Copies every segment of <paramref name="source"/> into <paramref name="output"/>, asking for room for all of it
    /// (and the <paramref name="bytesAfter"/> the caller writes next) at once: a writer that grows on demand grows once.
    /// </summary>
    /// <remarks>
    /// <c>BuffersExtensions.Write</c> asks for any room at all, so a writer that starts small doubles its way up to a
    /// large message, copying what it holds at every step: three copies of a 64 KiB reply instead of one.
    /// </remarks>
    public static void WriteSequence(this IBufferWriter<byte> output, in ReadOnlySequence<byte> source, int bytesAfter = 0)
    {
        var remaining = source.Length + bytesAfter;
        foreach (var segment in source)
        {
            var span = segment.Span;
            while (!span.IsEmpty)
            {
                var destination = output.GetSpan((int)Math.Min(remaining, Array.MaxLength));
                var count = Math.Min(span.Length, destination.Length);
                span[..count].CopyTo(destination);
                output.Advance(count);
                span = span[count..];
                remaining -= count;
            }
        }
    }
}
