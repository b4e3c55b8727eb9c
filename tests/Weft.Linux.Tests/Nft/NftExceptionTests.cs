using Weft.Linux.Nft;

namespace Weft.Linux.Tests.Nft;

public class NftExceptionTests
{
    private const string Script = "add table inet weft\ndelete element inet weft s { 9.9.9.9 }\n";

    [Theory]
    [InlineData("<script>:2:30-36: Error: Could not process rule: No such file or directory\n", 11, Errno.ENOENT)]
    [InlineData("<script>:2:19-19: Error: Could not process rule: File exists\n", 0, Errno.EEXIST)]
    [InlineData("<script>:2:1-5: Error: Could not process rule: Some new kernel text\n", 95, 95)]
    [InlineData("Error: No such file or directory; did you mean table 'weft' in family inet?\nlist table ip weft\n", 11, Errno.ENOENT)]
    [InlineData("<script>:2:37-46: Error: syntax error, unexpected string\n", 11, 0)]
    public void Errno_comes_from_the_kernel_error_nft_names(string message, int lastErrno, int expected) =>
        Assert.Equal(expected, NftException.ErrnoOf(message, lastErrno));

    [Fact]
    public void The_blamed_line_is_found_in_the_script()
    {
        var e = new NftException("<script>:2:30-36: Error: Could not process rule: No such file or directory\ndelete element inet weft s { 9.9.9.9 }\n", Errno.ENOENT, Script);
        Assert.Equal(2, e.Line);
        Assert.Equal("delete element inet weft s { 9.9.9.9 }", e.ScriptLine);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("nft: <script>:2:30-36: Error: Could not process rule: No such file or directory (script line 2) [ENOENT]", e.Message);
        Assert.IsAssignableFrom<KernelException>(e);
    }

    [Fact]
    public void A_one_line_script_is_line_one()
    {
        var e = new NftException("Error: syntax error, unexpected junk\nadd junk\n    ^^^^\n", 0, "add junk");
        Assert.Equal(1, e.Line);
        Assert.Equal("add junk", e.ScriptLine);
    }
}
