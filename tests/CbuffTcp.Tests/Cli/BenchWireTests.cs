using CbuffTcp.Cli;
using CbuffTcp.Cli.Bench;

namespace CbuffTcp.Tests.Cli;

/// <summary>
/// The frames <c>cbuff bench</c> sends and checks: the check accepts exactly the frame sent for that sender and
/// sequence, and refuses any single byte changed anywhere in it, so a server that alters one byte is caught.
/// </summary>
public sealed class BenchWireTests
{
    [Theory]
    [InlineData("Length", 0)]
    [InlineData("Length", 5)]
    [InlineData("Length", 8)]
    [InlineData("Length", 32)]
    [InlineData("Length", 300)]
    [InlineData("Line", 1)]
    [InlineData("Line", 16)]
    [InlineData("Line", 32)]
    [InlineData("Line", 300)]
    public void The_check_accepts_the_frame_sent_and_refuses_any_byte_changed(string protocol, int size)
    {
        var wire = new BenchWire(Enum.Parse<WireProtocol>(protocol), size);
        var frame = new byte[wire.FrameSize];
        foreach (var (sender, sequence) in new[] { (0, 0u), (7, 1u), (999, 123_456u), (int.MaxValue, uint.MaxValue) })
        {
            wire.Write(frame, sender, sequence);
            Assert.True(wire.IsExactly(frame, sender, sequence));
            if (size >= (protocol == "Length" ? 8 : 16))
            {
                // The whole id fits (smaller messages carry part of it, so neighbours may look alike).
                Assert.False(wire.IsExactly(frame, sender, sequence + 1), "another message's frame was accepted");
            }

            for (var i = 0; i < frame.Length; i++)
            {
                frame[i] ^= 0x01;
                Assert.False(wire.IsExactly(frame, sender, sequence), $"byte {i} of {frame.Length} changed and accepted");
                frame[i] ^= 0x01;
            }

            Assert.False(wire.IsExactly(frame.AsSpan(0, frame.Length - 1), sender, sequence), "a short frame was accepted");
        }
    }

    [Theory]
    [InlineData("Length", 5)]
    [InlineData("Length", 65_536)]
    [InlineData("Line", 16)]
    [InlineData("Line", 300)]
    public void A_slot_frame_renumbered_for_a_later_message_is_that_message_s_frame(string protocol, int size)
    {
        // A sender writes each slot's frame once, then only renumbers it: what goes out must be the exact frame of the
        // message, as a fresh write makes it, for every later message of the slot.
        var wire = new BenchWire(Enum.Parse<WireProtocol>(protocol), size, depth: 50);
        Assert.Equal(64, wire.Slots);
        var random = new Random(size);
        foreach (var sender in new[] { 0, 3, 1000 })
        {
            var first = (uint)random.Next(64);
            var reused = new byte[wire.FrameSize];
            wire.Write(reused, sender, first);
            var fresh = new byte[wire.FrameSize];
            foreach (var later in new[] { first + 64, first + (64 * 7), first + (64u * 1_000_003) })
            {
                Assert.Equal(wire.SlotOf(first), wire.SlotOf(later));
                wire.Renumber(reused, sender, later);
                wire.Write(fresh, sender, later);
                Assert.Equal(fresh, reused);
                Assert.True(wire.IsExactly(reused, sender, later));
            }
        }
    }

    [Theory]
    [InlineData(1, 36, 64)] // small frames: 64 slots
    [InlineData(16, 36, 64)]
    [InlineData(4, 65_540, 16)] // 64 KiB frames: 1 MiB of them
    [InlineData(1, 1_048_580, 1)] // 1 MiB frames: one
    [InlineData(8, 1_048_580, 8)] // never fewer than the messages in flight
    [InlineData(1000, 36, 1024)]
    public void A_sender_keeps_a_slot_per_message_in_flight_and_up_to_64_within_1_MiB(int depth, int frameSize, int expected)
    {
        Assert.Equal(expected, new BenchWire(WireProtocol.Length, frameSize - 4, depth).Slots);
    }

    [Theory]
    [InlineData("Length", 8)]
    [InlineData("Line", 16)]
    public void A_frame_names_its_sender_and_sequence(string protocol, int size)
    {
        var wire = new BenchWire(Enum.Parse<WireProtocol>(protocol), size);
        var frame = new byte[wire.FrameSize];
        wire.Write(frame, 4242, 77_777u);
        Assert.Equal((4242, 77_777u), wire.ReadId(frame));
    }
}
