using System.Net;
using Weft.Linux.Nft;

namespace Weft.Linux.Tests.Nft;

/// <summary>
/// Golden bytes of <see cref="NftElementBatch"/>, computed by hand from nf_tables.h and checked against
/// what nft 1.0.6 sends for the same elements (<c>nft --debug=mnl</c> / <c>--debug=netlink</c>).
/// </summary>
public class NftElementBatchTests
{
    private static readonly NftDataType[] Policy = [NftDataType.Mark, NftDataType.Ipv4Addr, NftDataType.InetProto, NftDataType.InetService];
    private static NftValue Ip(string s) => NftValue.Address(IPAddress.Parse(s));

    private const string Begin = "14000000 1000 0100 01000000 00000000 0000000a"; // len 20, NFNL_MSG_BATCH_BEGIN, REQUEST, seq 1; nfgenmsg res_id = NFTABLES (BE)

    [Fact]
    public void Concatenated_interval_element_has_key_and_key_end_with_the_mark_big_endian()
    {
        var set = new NftSet("ranges", Policy, NftSetFlags.Interval, []);
        var batch = new NftElementBatch().Add(NftFamily.Inet, "weft", set,
            [NftElement.Of(NftValue.Mark(1), Ip("10.255.12.2"), NftValue.Tcp, NftValue.PortRange(8000, 9000))]);

        var bytes = batch.Encode(1, out int acks);

        Assert.Equal(1, acks);
        Assert.Equal(Hex.Format(Hex.Parse($$"""
            {{Begin}}
            64000000 0c0a 0504 02000000 00000000   # len 100, NFT_MSG_NEWSETELEM (10<<8|12), REQUEST|ACK|CREATE, seq 2
            01000000                               # nfgenmsg: NFPROTO_INET, v0, res_id 0
            0900 0100 77656674 00000000            # NFTA_SET_ELEM_LIST_TABLE "weft"
            0b00 0200 72616e67 65730000            # NFTA_SET_ELEM_LIST_SET "ranges"
            3800 0380                              # NFTA_SET_ELEM_LIST_ELEMENTS (nested)
              3400 0180                            #   NFTA_LIST_ELEM
                1800 0180 1400 0100                #     NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE
                  00000001 0aff0c02 06000000 1f400000   # mark 1 (BE in interval sets), 10.255.12.2, tcp + pad, 8000 BE + pad }
                1800 0a80 1400 0100                #     NFTA_SET_ELEM_KEY_END (10) { NFTA_DATA_VALUE
                  00000001 0aff0c02 06000000 23280000   # ..., 9000 }
            14000000 1100 0100 03000000 00000000 0000000a   # NFNL_MSG_BATCH_END, seq 3
            """)), Hex.Format(bytes));
    }

    [Fact]
    public void Map_element_has_its_value_in_data_with_the_mark_in_host_order()
    {
        var map = new NftMap("tags", [NftDataType.Ipv4Addr], [NftDataType.Mark], NftSetFlags.None, []);
        var batch = new NftElementBatch().Delete(NftFamily.Inet, "weft", map, [NftElement.Map(Ip("10.255.12.3"), NftValue.Mark(0x1234))]);

        var bytes = batch.Encode(1, out _);

        Assert.Equal(Hex.Format(Hex.Parse($$"""
            {{Begin}}
            4c000000 0e0a 0500 02000000 00000000   # len 76, NFT_MSG_DELSETELEM (10<<8|14), REQUEST|ACK, seq 2
            01000000
            0900 0100 77656674 00000000            # table "weft"
            0900 0200 74616773 00000000            # set "tags"
            2000 0380                              # elements
              1c00 0180                            #   element
                0c00 0180 0800 0100 0aff0c03       #     key { value 10.255.12.3 }
                0c00 0280 0800 0100 34120000       #     data { value 0x1234, host order }
            14000000 1100 0100 03000000 00000000 0000000a
            """)), Hex.Format(bytes));
    }

    [Fact]
    public void Exact_concatenation_pads_each_field_to_four_bytes_and_ifnames_to_sixteen()
    {
        Span<byte> b = stackalloc byte[64];
        int n = NftElementBatch.WriteKey(b, Policy, [NftValue.Mark(0x1234), Ip("10.255.12.2"), NftValue.Udp, NftValue.Port(53)], high: false, bigEndianMarks: false);
        Assert.Equal("34120000" + "0aff0c02" + "11000000" + "00350000", Hex.Format(b[..n]));

        n = NftElementBatch.WriteKey(b, [NftDataType.IfName, NftDataType.Ipv4Addr], [NftValue.IfName("w-010255012002"), Ip("10.255.12.2")], high: false, bigEndianMarks: false);
        Assert.Equal("772d303130323535303132303032" + "0000" + "0aff0c02", Hex.Format(b[..n]));
        Assert.Equal(20, NftElementBatch.KeyLength([NftDataType.IfName, NftDataType.Ipv4Addr]));
    }

    [Fact]
    public void Elements_are_split_into_messages_below_the_attribute_size_limit()
    {
        var set = new NftSet("addrs", [NftDataType.Ipv4Addr], NftSetFlags.None, []);
        var many = Enumerable.Range(0, 10_000).Select(i => NftElement.Of(NftValue.Address(new IPAddress([10, 0, (byte)(i >> 8), (byte)i])))).ToArray();

        var bytes = new NftElementBatch().Add(NftFamily.Inet, "weft", set, many).Encode(7, out int acks);

        // 16 bytes per element (element header 4, key header 4, value header 4, address 4): 160,000 bytes, 3 messages.
        Assert.Equal(3, acks);
        var seqs = new List<uint>();
        for (int off = 0; off < bytes.Length;)
        {
            int len = BitConverter.ToInt32(bytes, off);
            Assert.True(len < 65536);
            seqs.Add(BitConverter.ToUInt32(bytes, off + 8));
            off += len;
        }
        Assert.Equal([7u, 8, 9, 10, 11], seqs);
    }

    [Fact]
    public void Elements_that_do_not_fit_the_set_are_refused_before_anything_is_sent()
    {
        var set = new NftSet("exact", Policy, NftSetFlags.None, []);
        var batch = new NftElementBatch().Add(NftFamily.Inet, "weft", set, [NftElement.Of(Ip("10.0.0.1"))]);
        Assert.Throws<ArgumentException>(() => batch.Encode(1, out _));
        Assert.Throws<NotSupportedException>(() => new NftElementBatch().Add(NftFamily.Inet, "weft",
            new NftSet("v", [NftDataType.Ipv4Addr], NftSetFlags.Interval, []), [NftElement.Of(Ip("10.0.0.1"))]));
    }

    /// <summary>Elements that write their own bytes (as a packed representation does).</summary>
    private sealed class RawSource(INftSetLike set, IReadOnlyList<NftElement> elements) : INftElementSource
    {
        public int Count => elements.Count;

        public void Write(int index, Span<byte> key, Span<byte> keyEnd, Span<byte> value)
        {
            key.Fill(0xee); // the writer must set every byte, padding included
            NftElementBatch.WriteKey(key, set.KeyTypes, elements[index].Key, false, !keyEnd.IsEmpty);
            if (!keyEnd.IsEmpty) NftElementBatch.WriteKey(keyEnd, set.KeyTypes, elements[index].Key, true, true);
            if (!value.IsEmpty) NftElementBatch.WriteKey(value, set.ValueTypes, elements[index].Value!, false, false);
        }
    }

    [Fact]
    public void An_element_source_encodes_the_same_batch_as_the_model()
    {
        var ranges = new NftSet("ranges", Policy, NftSetFlags.Interval, []);
        var map = new NftMap("portmap", [NftDataType.InetProto, NftDataType.InetService], [NftDataType.Ipv4Addr, NftDataType.InetService], NftSetFlags.None, []);
        NftElement[] r = [NftElement.Of(NftValue.Mark(1), Ip("10.255.12.2"), NftValue.Tcp, NftValue.PortRange(8000, 9000))];
        NftElement[] m = [new NftElement([NftValue.Tcp, NftValue.Port(61012)], [Ip("10.255.12.2"), NftValue.Port(8080)])];
        var model = new NftElementBatch().Delete(NftFamily.Inet, "weft", map, m).Add(NftFamily.Inet, "weft", ranges, r).Encode(1, out int a1);
        var raw = new NftElementBatch().Delete(NftFamily.Inet, "weft", map, new RawSource(map, m)).Add(NftFamily.Inet, "weft", ranges, new RawSource(ranges, r)).Encode(1, out int a2);
        Assert.Equal(2, a1);
        Assert.Equal(a1, a2);
        Assert.Equal(Hex.Format(model), Hex.Format(raw));
    }
}
