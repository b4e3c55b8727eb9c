namespace Weft.Cni.Tests;

public class Ipv4Tests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("10.255.12.2")]
    [InlineData("255.255.255.255")]
    public void An_address_round_trips_through_text_and_interpolation(string text)
    {
        var ip = Ipv4.Parse(text);
        Assert.Equal(text, ip.ToString());
        Assert.Equal($"<{text}/32>", $"<{ip}/32>");
    }

    [Fact]
    public void A_subnet_is_masked_and_formats_as_network_slash_length()
    {
        var subnet = Ipv4Subnet.Parse("10.255.12.77/24");
        Assert.Equal("10.255.12.0/24", subnet.ToString());
        Assert.Equal("weft-ipam 2 10.255.12.0/24 last=3", $"weft-ipam 2 {subnet} last={3}");
        Assert.Equal("255.255.255.255/32", Ipv4Subnet.Parse("255.255.255.255/32").ToString());
    }

    [Fact]
    public void Formatting_into_a_short_buffer_fails_instead_of_writing_past_it()
    {
        var ip = Ipv4.Parse("255.255.255.255");
        Assert.False(ip.TryFormat(new char[14], out _, default, null));
        Assert.True(ip.TryFormat(new char[15], out var n, default, null));
        Assert.Equal(15, n);
        Assert.False(Ipv4Subnet.Parse("255.255.255.255/32").TryFormat(new char[17], out _, default, null));
    }
}
