using System.Buffers.Binary;

namespace Weft.Linux.Tests;

/// <summary>The request/ACK/dump protocol of <see cref="NetlinkSocket"/> against a scripted kernel.</summary>
public class NetlinkSocketTests
{
    private sealed class ScriptedKernel : INetlinkTransport
    {
        private readonly Queue<Func<uint, byte[]>> _replies = new();
        public List<byte[]> Sent { get; } = [];
        public uint PortId => 4242;
        private uint _lastSeq;

        public void Reply(Func<uint, byte[]> datagram) => _replies.Enqueue(datagram);

        public int Pending => _replies.Count;

        public void Send(ReadOnlySpan<byte> data, string operation)
        {
            Sent.Add(data.ToArray());
            _lastSeq = BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
        }

        public int Receive(byte[] buffer, string operation)
        {
            var d = _replies.Dequeue()(_lastSeq);
            d.CopyTo(buffer, 0);
            return d.Length;
        }

        public void Dispose() { }
    }

    private static byte[] Link(uint seq, uint pid, int index, string name, ushort flags)
    {
        var w = NetlinkWriter.Pooled();
        try
        {
            w.BeginMessage(Rtm.RTM_NEWLINK, flags, seq, pid);
            w.Write(new IfInfoMsg { Index = index });
            w.AttrString(Ifla.IFLA_IFNAME, name);
            w.EndMessage();
            return w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
    }

    private static byte[] Done(uint seq, uint pid, ushort flags, int error = 0)
    {
        var w = NetlinkWriter.Pooled();
        try
        {
            w.BeginMessage(Nl.NLMSG_DONE, (ushort)(Nl.NLM_F_MULTI | flags), seq, pid);
            w.Write(error);
            w.EndMessage();
            return w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
    }

    private static byte[] GetLinkDump()
    {
        var w = NetlinkWriter.Pooled();
        try
        {
            LinkMessages.WriteGet(ref w, 0, null, dump: true);
            return w.Written.ToArray();
        }
        finally
        {
            w.Dispose();
        }
    }

    [Fact]
    public void Interrupted_dump_is_repeated_and_only_the_complete_result_returned()
    {
        var k = new ScriptedKernel();
        const ushort multi = Nl.NLM_F_MULTI;
        // First dump: one link, then the kernel notices a change (NLM_F_DUMP_INTR).
        k.Reply(seq => [.. Link(seq, 4242, 1, "lo", multi), .. Link(seq, 4242, 2, "gone", multi | Nl.NLM_F_DUMP_INTR)]);
        k.Reply(seq => Done(seq, 4242, Nl.NLM_F_DUMP_INTR));
        // Second dump: consistent, split over two datagrams.
        k.Reply(seq => Link(seq, 4242, 1, "lo", multi));
        k.Reply(seq => [.. Link(seq, 4242, 3, "veth0", multi), .. Done(seq, 4242, 0)]);
        using var s = new NetlinkSocket(k);

        var links = s.Dump<Link>(GetLinkDump(), LinkMessages.Parse, "ip link show");

        Assert.Equal(["lo", "veth0"], links.Select(l => l.Name));
        Assert.Equal(2, k.Sent.Count);
        Assert.Equal(1, s.InterruptedDumps);
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(k.Sent[0].AsSpan(6));
        Assert.Equal(Nl.NLM_F_REQUEST | Nl.NLM_F_DUMP, flags);
        Assert.NotEqual(BinaryPrimitives.ReadUInt32LittleEndian(k.Sent[0].AsSpan(8)), BinaryPrimitives.ReadUInt32LittleEndian(k.Sent[1].AsSpan(8)));
    }

    [Fact]
    public void Replies_to_other_sequence_numbers_are_ignored_and_errors_in_done_throw()
    {
        var k = new ScriptedKernel();
        k.Reply(seq => [.. Link(seq - 1, 4242, 9, "stale", Nl.NLM_F_MULTI), .. Done(seq, 4242, 0, -Errno.EBUSY)]);
        using var s = new NetlinkSocket(k);
        var e = Assert.Throws<NetlinkException>(() => s.Dump<Link>(GetLinkDump(), LinkMessages.Parse, "ip link show"));
        Assert.Equal(Errno.EBUSY, e.Errno);
    }

    [Fact]
    public void Request_sets_REQUEST_and_ACK_and_throws_the_errno_of_the_error_reply()
    {
        var k = new ScriptedKernel();
        k.Reply(seq =>
        {
            var b = new byte[36];
            BinaryPrimitives.WriteUInt32LittleEndian(b, 36);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), Nl.NLMSG_ERROR);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), Nl.NLM_F_CAPPED);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), seq);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), 4242);
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), -Errno.ENODEV);
            return b;
        });
        using var s = new NetlinkSocket(k);
        var w = NetlinkWriter.Pooled();
        try
        {
            LinkMessages.WriteLinkHeader(ref w, Rtm.RTM_DELLINK, 0, 0, "nope", 0, 0);
            w.EndMessage();
            var request = w.Written.ToArray();
            var e = Assert.Throws<NetlinkException>(() => s.Request(request, "ip link del nope"));
            Assert.Equal(Errno.ENODEV, e.Errno);
        }
        finally
        {
            w.Dispose();
        }
        Assert.Equal(Nl.NLM_F_REQUEST | Nl.NLM_F_ACK, BinaryPrimitives.ReadUInt16LittleEndian(k.Sent[0].AsSpan(6)));
    }

    [Fact]
    public void A_failing_parser_still_reads_the_dump_to_its_end_before_throwing()
    {
        var k = new ScriptedKernel();
        k.Reply(seq => Link(seq, 4242, 1, "lo", Nl.NLM_F_MULTI));
        k.Reply(seq => [.. Link(seq, 4242, 2, "eth0", Nl.NLM_F_MULTI), .. Done(seq, 4242, 0)]);
        using var s = new NetlinkSocket(k);
        int calls = 0;
        NetlinkParser<int> failing = (in NetlinkMessage m, out int v) =>
        {
            calls++;
            throw new InvalidDataException("bad link");
        };
        Assert.Throws<InvalidDataException>(() => s.Dump(GetLinkDump(), failing, "ip link show"));
        Assert.Equal(1, calls);
        Assert.Equal(0, k.Pending); // the rest of the dump was consumed, the socket is clean for the next request
    }
}
