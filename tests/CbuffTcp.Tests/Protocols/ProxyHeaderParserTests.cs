using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace CbuffTcp.Tests.Protocols;

/// <summary>
/// The PROXY protocol parser: v1 and v2 headers as HAProxy writes them, their TLVs, every truncation (incomplete, never
/// wrong), what follows a header left alone, malformed headers refused, and a million seeded random and mutated
/// inputs on which it never throws, never claims more bytes than it was given or than a header may have, and agrees
/// with itself on the header's own bytes.
/// </summary>
public class ProxyHeaderParserTests
{
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    [Fact]
    public void A_v1_TCP4_header_names_the_client_and_leaves_what_follows()
    {
        var data = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\nhello\n"u8.ToArray();
        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse(data, out var header, out var length, out _));
        Assert.Equal("PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\n".Length, length);
        Assert.Equal((1, false), (header!.Version, header.IsLocal));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 56324), header.SourceEndPoint);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 9000), header.DestinationEndPoint);
        Assert.Empty(header.Tlvs);
    }

    [Fact]
    public void A_v1_TCP6_header_and_an_UNKNOWN_one()
    {
        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"u8, out var header, out _, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 1), header!.SourceEndPoint);

        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx"u8, out header, out var length, out _));
        Assert.True(header!.IsLocal);
        Assert.Null(header.SourceEndPoint);
        Assert.Equal("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".Length, length);
    }

    [Fact]
    public void A_v2_header_with_its_TLVs_authority_alpn_unique_id_and_tls()
    {
        var ssl = new List<byte> { 0x07 }; // client SSL, cert conn, cert sess
        ssl.AddRange(new byte[] { 0, 0, 0, 0 }); // verified
        ssl.AddRange(Tlv(0x21, "TLSv1.3"u8.ToArray()));
        ssl.AddRange(Tlv(0x22, "client.example"u8.ToArray()));
        ssl.AddRange(Tlv(0x23, "TLS_AES_128_GCM_SHA256"u8.ToArray()));
        var data = V2(command: 1, family: 0x11, Ipv4("198.51.100.9", "192.0.2.1", 40000, 443),
            [.. Tlv(0x02, "chat.example.com"u8.ToArray()), .. Tlv(0x01, "cbuff"u8.ToArray()), .. Tlv(0x05, [1, 2, 3]), .. Tlv(0x20, [.. ssl])]);

        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse([.. data, .. "after"u8.ToArray()], out var header, out var length, out _));
        Assert.Equal(data.Length, length);
        Assert.Equal((2, false), (header!.Version, header.IsLocal));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 40000), header.SourceEndPoint);
        Assert.Equal("chat.example.com", header.Authority);
        Assert.Equal("cbuff", header.Alpn);
        Assert.Equal(new byte[] { 1, 2, 3 }, header.UniqueId!.Value.ToArray());
        Assert.Equal(new ProxySslInfo(true, true, true, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "client.example"), header.Ssl);
    }

    [Fact]
    public void A_v2_LOCAL_header_names_no_client_and_an_IPv6_one_does()
    {
        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse(V2(command: 0, family: 0x00, [], []), out var local, out var length, out _));
        Assert.Equal((true, null, 16), (local!.IsLocal, local.SourceEndPoint, length));

        var addresses = new byte[36];
        IPAddress.Parse("2001:db8::7").TryWriteBytes(addresses, out _);
        IPAddress.Parse("2001:db8::1").TryWriteBytes(addresses.AsSpan(16), out _);
        BinaryPrimitives.WriteUInt16BigEndian(addresses.AsSpan(32), 5555);
        BinaryPrimitives.WriteUInt16BigEndian(addresses.AsSpan(34), 9000);
        Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse(V2(command: 1, family: 0x21, addresses, []), out var header, out _, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 5555), header!.SourceEndPoint);
    }

    [Fact]
    public void Every_truncation_of_a_header_is_incomplete_and_bytes_that_are_not_one_are_none()
    {
        byte[][] headers =
        [
            "PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\n"u8.ToArray(),
            V2(command: 1, family: 0x11, Ipv4("198.51.100.9", "192.0.2.1", 1, 2), Tlv(0x02, "a.example"u8.ToArray())),
        ];
        foreach (var header in headers)
        {
            for (var length = 1; length < header.Length; length++)
            {
                Assert.Equal(ProxyParse.Incomplete, ProxyHeaderParser.TryParse(header.AsSpan(0, length), out _, out _, out _));
            }
        }

        Assert.Equal(ProxyParse.Incomplete, ProxyHeaderParser.TryParse([], out _, out _, out _));
        Assert.Equal(ProxyParse.None, ProxyHeaderParser.TryParse("GET / HTTP/1.1\r\n"u8, out _, out _, out _));
        Assert.Equal(ProxyParse.None, ProxyHeaderParser.TryParse("PROXZ"u8, out _, out _, out _));
        Assert.Equal(ProxyParse.None, ProxyHeaderParser.TryParse([0x00, 0x00, 0x00, 0x05], out _, out _, out _));
    }

    [Theory]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 56324\r\n")]        // a field missing
    [InlineData("PROXY TCP4 203.0.113 192.0.2.1 1 2\r\n")]            // three octets
    [InlineData("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n")]          // IPv6 under TCP4
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 65536 2\r\n")]      // port out of range
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n")]         // leading zero
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.1 -1 2\r\n")]
    [InlineData("PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n")]
    [InlineData("PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n")]         // two spaces
    public void Malformed_v1_headers_are_invalid(string text)
    {
        Assert.Equal(ProxyParse.Invalid, ProxyHeaderParser.TryParse(Encoding.ASCII.GetBytes(text), out _, out _, out var error));
        Assert.StartsWith("PROXY v1 header", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_v1_header_without_its_CRLF_in_107_bytes_is_invalid()
    {
        var data = Encoding.ASCII.GetBytes("PROXY TCP4 " + new string('1', 200));
        Assert.Equal(ProxyParse.Invalid, ProxyHeaderParser.TryParse(data, out _, out _, out var error));
        Assert.Contains("107", error, StringComparison.Ordinal);
        Assert.Equal(ProxyParse.Incomplete, ProxyHeaderParser.TryParse(data.AsSpan(0, 106), out _, out _, out _));
    }

    [Fact]
    public void Malformed_v2_headers_are_invalid()
    {
        var good = V2(command: 1, family: 0x11, Ipv4("198.51.100.9", "192.0.2.1", 1, 2), Tlv(0x02, "x"u8.ToArray()));
        Assert.Equal(ProxyParse.Invalid, Parse(With(good, 12, 0x31)));                  // version 3
        Assert.Equal(ProxyParse.Invalid, Parse(With(good, 12, 0x22)));                  // command 2
        Assert.Equal(ProxyParse.Invalid, Parse(With(good, 13, 0x41)));                  // family 4
        Assert.Equal(ProxyParse.Invalid, Parse(With(good, good.Length - 2, 0x05)));     // the TLV claims past the end
        Assert.Equal(ProxyParse.Invalid, Parse(V2(command: 1, family: 0x21, new byte[12], []))); // IPv6 in 12 bytes

        static ProxyParse Parse(byte[] data) => ProxyHeaderParser.TryParse(data, out _, out _, out _);
        static byte[] With(byte[] data, int index, byte value)
        {
            var copy = data.ToArray();
            copy[index] = value;
            return copy;
        }
    }

    [Fact]
    public void A_million_random_and_mutated_inputs_never_throw_and_every_answer_is_consistent()
    {
        var random = new Random(20261206);
        byte[][] seeds =
        [
            "PROXY TCP4 203.0.113.7 192.0.2.1 56324 9000\r\n"u8.ToArray(),
            "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"u8.ToArray(),
            "PROXY UNKNOWN\r\n"u8.ToArray(),
            V2(command: 1, family: 0x11, Ipv4("198.51.100.9", "192.0.2.1", 40000, 443), [.. Tlv(0x02, "chat.example.com"u8.ToArray()), .. Tlv(0x20, [1, 0, 0, 0, 0])]),
            V2(command: 0, family: 0x00, [], []),
        ];
        var counts = new Dictionary<ProxyParse, int>();
        var buffer = new byte[512];
        for (var i = 0; i < 1_000_000; i++)
        {
            int length;
            if (i % 2 == 0)
            {
                // A real header, mutated: bytes flipped, cut short, or with noise behind it.
                var seed = seeds[random.Next(seeds.Length)];
                seed.CopyTo(buffer, 0);
                length = seed.Length;
                for (var flips = random.Next(4); flips > 0; flips--)
                {
                    buffer[random.Next(length)] = (byte)random.Next(256);
                }

                length = random.Next(3) switch
                {
                    0 => random.Next(1, length + 1),
                    1 => length + Fill(buffer, length, random.Next(64), random),
                    _ => length,
                };
            }
            else
            {
                // Noise, often starting like a header.
                length = random.Next(1, 128);
                random.NextBytes(buffer.AsSpan(0, length));
                if (random.Next(2) == 0)
                {
                    (random.Next(2) == 0 ? "PROXY "u8 : V2Signature).CopyTo(buffer);
                }
            }

            var input = buffer.AsSpan(0, length);
            var result = ProxyHeaderParser.TryParse(input, out var header, out var consumed, out var error);
            counts[result] = counts.GetValueOrDefault(result) + 1;
            switch (result)
            {
                case ProxyParse.Header:
                    Assert.NotNull(header);
                    Assert.InRange(consumed, header!.Version == 1 ? "PROXY UNKNOWN\r\n".Length : 16, Math.Min(length, ProxyHeaderParser.MaxV2Length));
                    Assert.True(header.Version == 2 || consumed <= ProxyHeaderParser.MaxV1Length);
                    Assert.Equal(ProxyParse.Header, ProxyHeaderParser.TryParse(input[..consumed], out _, out var again, out _)); // the header alone is the same header
                    Assert.Equal(consumed, again);
                    break;
                case ProxyParse.Invalid:
                    Assert.False(string.IsNullOrEmpty(error));
                    break;
                case ProxyParse.Incomplete:
                    Assert.True(length < ProxyHeaderParser.MaxV2Length);
                    break;
            }
        }

        Assert.All(Enum.GetValues<ProxyParse>(), kind => Assert.True(counts.GetValueOrDefault(kind) > 1000, $"{kind}: only {counts.GetValueOrDefault(kind)} of a million"));
    }

    private static int Fill(byte[] buffer, int offset, int count, Random random)
    {
        random.NextBytes(buffer.AsSpan(offset, count));
        return count;
    }

    private static byte[] V2(int command, byte family, byte[] addresses, byte[] tlvs)
    {
        var data = new byte[16 + addresses.Length + tlvs.Length];
        V2Signature.CopyTo(data, 0);
        data[12] = (byte)(0x20 | command);
        data[13] = family;
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(14), (ushort)(addresses.Length + tlvs.Length));
        addresses.CopyTo(data, 16);
        tlvs.CopyTo(data, 16 + addresses.Length);
        return data;
    }

    private static byte[] Ipv4(string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        var data = new byte[12];
        IPAddress.Parse(source).TryWriteBytes(data, out _);
        IPAddress.Parse(destination).TryWriteBytes(data.AsSpan(4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(8), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(10), destinationPort);
        return data;
    }

    private static byte[] Tlv(byte type, byte[] value) => [type, (byte)(value.Length >> 8), (byte)value.Length, .. value];
}
