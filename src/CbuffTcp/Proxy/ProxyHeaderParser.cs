using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CbuffTcp;

/// <summary>What <see cref="ProxyHeaderParser.TryParse"/> found at the start of a connection's bytes.</summary>
internal enum ProxyParse
{
    /// <summary>Could still be a header: read more.</summary>
    Incomplete,

    /// <summary>Not a header: the bytes are the connection's own data.</summary>
    None,

    /// <summary>A header, malformed: the connection is refused.</summary>
    Invalid,

    /// <summary>A whole header, of the length returned.</summary>
    Header,
}

/// <summary>
/// Parses a PROXY protocol header (v1 text, v2 binary) from the first bytes of a connection. It looks at nothing past
/// the header's end, allocates only once the whole header is there and no more than its declared size (v2: at most
/// 16 + 65,535 bytes; v1: at most 107), and never throws on any input.
/// </summary>
internal static class ProxyHeaderParser
{
    /// <summary>The longest v1 header, CRLF included (the specification's limit).</summary>
    public const int MaxV1Length = 107;

    /// <summary>The longest v2 header: 16 fixed bytes and a 16-bit length.</summary>
    public const int MaxV2Length = 16 + ushort.MaxValue;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    public static ProxyParse TryParse(ReadOnlySpan<byte> data, out ProxyHeader? header, out int length, out string? error)
    {
        header = null;
        length = 0;
        error = null;
        if (data.IsEmpty)
        {
            return ProxyParse.Incomplete;
        }

        if (StartsAsPrefixOf(data, V2Signature))
        {
            return data.Length < 16 ? ProxyParse.Incomplete : ParseV2(data, out header, out length, out error);
        }

        if (StartsAsPrefixOf(data, V1Prefix))
        {
            return data.Length < V1Prefix.Length ? ProxyParse.Incomplete : ParseV1(data, out header, out length, out error);
        }

        return ProxyParse.None;
    }

    /// <summary>True when <paramref name="data"/> and <paramref name="signature"/> agree over the shorter of the two.</summary>
    private static bool StartsAsPrefixOf(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        var common = Math.Min(data.Length, signature.Length);
        return data[..common].SequenceEqual(signature[..common]);
    }

    private static ProxyParse ParseV2(ReadOnlySpan<byte> data, out ProxyHeader? header, out int length, out string? error)
    {
        header = null;
        length = 0;
        var versionAndCommand = data[12];
        if (versionAndCommand >> 4 != 2)
        {
            return Fail($"PROXY v2 header with version {versionAndCommand >> 4}", out error);
        }

        var command = versionAndCommand & 0x0F;
        if (command > 1)
        {
            return Fail($"PROXY v2 header with unknown command {command}", out error);
        }

        var family = data[13];
        var declared = BinaryPrimitives.ReadUInt16BigEndian(data[14..16]);
        if (data.Length < 16 + declared)
        {
            error = null;
            return ProxyParse.Incomplete;
        }

        var addressLength = (family >> 4) switch
        {
            0 => 0,
            1 => 12,
            2 => 36,
            3 => 216,
            _ => -1,
        };
        if (addressLength < 0 || (family & 0x0F) > 2)
        {
            return Fail($"PROXY v2 header with unknown address family 0x{family:x2}", out error);
        }

        if (declared < addressLength)
        {
            return Fail($"PROXY v2 header of {declared} bytes cannot hold its {addressLength}-byte addresses", out error);
        }

        // The whole header is here: copy it once, and let the TLVs point into the copy.
        var bytes = data[..(16 + declared)].ToArray();
        var addresses = bytes.AsSpan(16, addressLength);
        EndPoint? source = null, destination = null;
        if (command == 1)
        {
            (source, destination) = (family >> 4) switch
            {
                1 => (new IPEndPoint(new IPAddress(addresses[..4]), BinaryPrimitives.ReadUInt16BigEndian(addresses[8..])), new IPEndPoint(new IPAddress(addresses[4..8]), BinaryPrimitives.ReadUInt16BigEndian(addresses[10..]))),
                2 => (new IPEndPoint(new IPAddress(addresses[..16]), BinaryPrimitives.ReadUInt16BigEndian(addresses[32..])), new IPEndPoint(new IPAddress(addresses[16..32]), BinaryPrimitives.ReadUInt16BigEndian(addresses[34..]))),
                _ => ((EndPoint?)null, (EndPoint?)null), // UNSPEC or UNIX: no IP client to name
            };
        }

        var tlvs = new List<ProxyTlv>();
        var offset = 16 + addressLength;
        while (offset < bytes.Length)
        {
            if (bytes.Length - offset < 3)
            {
                return Fail("PROXY v2 header ends inside a TLV's type and length", out error);
            }

            var tlvLength = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset + 1, 2));
            if (bytes.Length - offset - 3 < tlvLength)
            {
                return Fail($"PROXY v2 TLV of type 0x{bytes[offset]:x2} claims {tlvLength} bytes past the header's end", out error);
            }

            tlvs.Add(new ProxyTlv(bytes[offset], bytes.AsMemory(offset + 3, tlvLength)));
            offset += 3 + tlvLength;
        }

        length = bytes.Length;
        header = new ProxyHeader(2, isLocal: command == 0 || source is null, source, destination, tlvs);
        error = null;
        return ProxyParse.Header;
    }

    private static ProxyParse ParseV1(ReadOnlySpan<byte> data, out ProxyHeader? header, out int length, out string? error)
    {
        header = null;
        length = 0;
        var window = data[..Math.Min(data.Length, MaxV1Length)];
        var end = window.IndexOf("\r\n"u8);
        if (end < 0)
        {
            if (data.Length >= MaxV1Length)
            {
                return Fail($"PROXY v1 header without CRLF in its first {MaxV1Length} bytes", out error);
            }

            error = null;
            return ProxyParse.Incomplete;
        }

        var line = Encoding.ASCII.GetString(window[..end]);
        var parts = line.Split(' ');
        if (parts is [_, "UNKNOWN", ..])
        {
            length = end + 2;
            header = new ProxyHeader(1, isLocal: true, null, null, []);
            error = null;
            return ProxyParse.Header;
        }

        if (parts is not [_, "TCP4" or "TCP6", var sourceText, var destinationText, var sourcePortText, var destinationPortText])
        {
            return Fail($"PROXY v1 header not of the form 'PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT': '{Printable(line)}'", out error);
        }

        var family = parts[1] == "TCP4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        if (!TryAddress(sourceText, family, out var sourceAddress) || !TryAddress(destinationText, family, out var destinationAddress)
            || !TryPort(sourcePortText, out var sourcePort) || !TryPort(destinationPortText, out var destinationPort))
        {
            return Fail($"PROXY v1 header with a malformed address or port: '{Printable(line)}'", out error);
        }

        length = end + 2;
        header = new ProxyHeader(1, isLocal: false, new IPEndPoint(sourceAddress, sourcePort), new IPEndPoint(destinationAddress, destinationPort), []);
        error = null;
        return ProxyParse.Header;
    }

    private static bool TryAddress(string text, AddressFamily family, out IPAddress address) =>
        IPAddress.TryParse(text, out address!) && address.AddressFamily == family && (family == AddressFamily.InterNetworkV6 || text.Count(c => c == '.') == 3);

    private static bool TryPort(string text, out int port)
    {
        port = 0;
        return text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit) && (text.Length == 1 || text[0] != '0')
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535;
    }

    private static string Printable(string line) => new([.. line.Take(MaxV1Length).Select(c => c is >= ' ' and <= '~' ? c : '?')]);

    private static ProxyParse Fail(string message, out string? error)
    {
        error = message;
        return ProxyParse.Invalid;
    }
}
