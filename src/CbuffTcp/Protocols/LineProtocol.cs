using System.Buffers;

namespace CbuffTcp.Protocols;

/// <summary>
/// Text lines: a message is the bytes before <c>\n</c>, with a trailing <c>\r</c> dropped (so <c>\r\n</c> is accepted);
/// <see cref="Pack"/> ends every message with <c>\n</c>. The bytes are left as they are (decode them as UTF-8 with
/// <c>Encoding.UTF8.GetString(message)</c>). Messages are views into the receive buffer.
/// </summary>
public sealed class LineProtocol : IProtocol<ReadOnlySequence<byte>>
{
    private readonly DelimiterProtocol _lines;

    /// <summary>Creates the protocol.</summary>
    /// <param name="maxLineLength">The longest line accepted, line ending excluded. Defaults to 1 MiB.</param>
    public LineProtocol(int maxLineLength = ProtocolDefaults.MaxFrameSize)
    {
        _lines = new DelimiterProtocol("\n"u8, maxLineLength, trimCarriageReturn: true);
    }

    /// <summary>The longest line accepted, line ending excluded.</summary>
    public int MaxFrameSize => _lines.MaxFrameSize;

    /// <inheritdoc />
    public bool TryDepack(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message) => _lines.TryDepack(ref buffer, out message);

    /// <inheritdoc />
    public void Pack(in ReadOnlySequence<byte> message, IBufferWriter<byte> output) => _lines.Pack(message, output);
}
