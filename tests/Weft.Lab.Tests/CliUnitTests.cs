using Weft.Cli.Api;
using Weft.Cli.Cli;
using Weft.Cli.Lab;

namespace Weft.Lab.Tests;

public class ArgsTests
{
    [Fact]
    public void Reads_positionals_options_flags_and_the_rest_after_double_dash()
    {
        var a = new Args("lab exec", ["appA/0", "--name", "t1", "--json", "--port=9000", "--", "ip", "--brief", "addr"]);
        Assert.Equal("appA/0", a.Positional("APP"));
        Assert.Equal("t1", a.Option("name"));
        Assert.Equal(9000, a.IntOption("port", 8080, 1, 65535));
        Assert.True(a.Flag("json"));
        Assert.Equal(["ip", "--brief", "addr"], a.Rest);
        a.Done();
    }

    [Fact]
    public void Unknown_options_and_extra_arguments_are_usage_errors()
    {
        var a = new Args("policy list", ["--aap", "x"]);
        var e = Assert.Throws<CliException>(a.Done);
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Contains("--aap", e.Message);

        var b = new Args("policy list", ["extra"]);
        Assert.Contains("'extra'", Assert.Throws<CliException>(b.Done).Message);
    }

    [Fact]
    public void An_option_without_its_value_is_a_usage_error_naming_it()
    {
        var e = Assert.Throws<CliException>(() => new Args("lab up", ["--cells"]));
        Assert.Equal("option --cells needs a value", e.Message);
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("x")]
    [InlineData("201")]
    public void Integer_options_are_range_checked(string value)
    {
        var a = new Args("lab up", ["--cells", value]);
        var e = Assert.Throws<CliException>(() => a.IntOption("cells", 2, 1, 200));
        Assert.Contains("--cells must be a number from 1 to 200", e.Message);
    }

    [Fact]
    public void A_missing_positional_names_what_is_missing()
        => Assert.Equal("missing DESTINATION app", Assert.Throws<CliException>(() => new Args("policy add", ["a"]).Let(x => { x.Positional("SOURCE app"); x.Positional("DESTINATION app"); })).Message);
}

internal static class Extensions
{
    public static void Let<T>(this T value, Action<T> action) => action(value);
}

public class PolicyPortsTests
{
    [Theory]
    [InlineData("8080", 8080, 8080)]
    [InlineData("8080-8090", 8080, 8090)]
    [InlineData("1-65535", 1, 65535)]
    public void Parses_a_port_or_a_range(string s, int start, int end)
        => Assert.Equal(new PolicyPorts(start, end), PolicyPorts.TryParse(s));

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("9-1")]
    [InlineData("80-")]
    [InlineData("-80")]
    [InlineData("http")]
    [InlineData("+80")]
    public void Rejects_what_the_server_would_reject(string s) => Assert.Null(PolicyPorts.TryParse(s));

    [Fact]
    public void Prints_a_single_port_without_a_range() => Assert.Equal("8080", new PolicyPorts(8080, 8080).ToString());
}

public class TableTests
{
    [Fact]
    public void Columns_are_aligned_with_two_spaces_and_lines_have_no_trailing_blanks()
    {
        var t = new Table("source", "destination", "ports");
        t.Add("appA", "appB", "8080").Add("a-longer-name", "c", "");
        Assert.Equal(
            "source         destination  ports\n" +
            "appA           appB         8080\n" +
            "a-longer-name  c\n", t.ToString());
    }
}

public class LabPlanTests
{
    [Fact]
    public void Names_and_addresses_follow_from_the_lab_name()
    {
        var p = LabPlan.For("demo");
        Assert.Equal("weft-lab-demo-fabric", p.FabricNetns);
        Assert.Equal("weft-lab-demo-control", p.ControlNetns);
        Assert.Equal("weft-lab-demo-cell-2", p.CellNetns(2));
        Assert.Equal("weft-lab-demo-appA-0", p.ContainerNetns("appA", 0));
        Assert.Equal("198.18.0.11", LabPlan.CellUnderlayIp(1));
        Assert.Equal("198.18.0.210", LabPlan.CellUnderlayIp(200));
        Assert.Equal("lab-demo", p.ProfileName);
        Assert.Equal("default", LabPlan.For(null).Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Demo")]
    [InlineData("my-lab")]   // '-' would let one lab's namespace prefix match another lab's
    [InlineData("abcdefghijklmnopq")]
    [InlineData("../x")]
    public void Lab_names_that_could_collide_or_escape_are_refused(string name)
        => Assert.Equal(ExitCodes.Usage, Assert.Throws<CliException>(() => LabPlan.For(name)).ExitCode);

    [Theory]
    [InlineData("cell")]     // its instances would be named like the cells' namespaces (cell-1, …)
    [InlineData("Fabric")]
    [InlineData("control")]
    public void The_labs_own_words_are_not_app_names(string app)
        => Assert.Equal(ExitCodes.Usage, Assert.Throws<CliException>(() => LabPlan.ValidateAppName(app)).ExitCode);

    [Fact]
    public void Interface_names_fit_the_kernel_limit_of_15_characters()
    {
        foreach (var n in new[] { LabPlan.Bridge, LabPlan.Uplink, LabPlan.FabricPort(0), LabPlan.FabricPort(LabPlan.MaxCells) })
            Assert.True(n.Length <= 15, n);
    }

    [Fact]
    public void New_instances_go_to_the_least_loaded_cells_unless_a_cell_is_given()
    {
        Assert.Equal([1, 2, 1], LabPlan.PlaceInstances(3, 2, null, [0, 0]));
        Assert.Equal([2, 2, 1], LabPlan.PlaceInstances(3, 2, null, [2, 0]));
        Assert.Equal([2, 2], LabPlan.PlaceInstances(2, 3, 2, [0, 0, 0]));
    }
}

public class MatrixTests
{
    [Fact]
    public void Renders_all_some_or_none_per_app_pair_and_a_dot_on_the_diagonal()
    {
        CurlResult R(string s, string d, bool ok) => new(s, d, "10.255.0.2", 8080, "tcp", ok, null, null, 1);
        var m = Matrix.From(["appA", "appB"], [R("appA/0", "appB/0", true), R("appA/1", "appB/0", false), R("appB/0", "appA/0", false), R("appB/0", "appA/1", false)]);
        Assert.Equal("1/2", m.Get("appA", "appB")!.Symbol);
        Assert.Equal("✗", m.Get("appB", "appA")!.Symbol);
        Assert.Equal(
            "  from \\ to  appA  appB\n" +
            "  appA       ·     1/2\n" +
            "  appB       ✗     ·\n", m.Render());
    }
}

public class ComponentsTests
{
    [Fact]
    public void The_cni_config_names_the_cells_state_dir_and_carries_cf_style_metadata()
    {
        var cell = new LabCell { Name = "cell-1", Netns = "weft-lab-x-cell-1", UnderlayIp = "198.18.0.11", StateDir = "/run/weft/lab/x/cell-1" };
        var app = new LabApp { Name = "appA", Id = "7c9223a8-58eb-4bd5-bfc6-a2a1cee2e08f", Port = 8080 };
        Assert.Equal(
            """{"cniVersion":"1.1.0","name":"weft-lab","type":"weft-cni","stateDir":"/run/weft/lab/x/cell-1","dataDir":"/run/weft/lab/x/cell-1/data","metadata":{"app_id":"7c9223a8-58eb-4bd5-bfc6-a2a1cee2e08f","app_name":"appA","space_id":"weft-lab-space","org_id":"weft-lab-org","instance_index":"2","ports":"8080"}}""",
            Components.CniConfig(cell, app, 2));
    }

    [Fact]
    public void The_containers_ip_is_read_from_the_cni_result()
        => Assert.Equal("10.255.11.3", Components.ParseCniIp("""{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.255.11.3/32","gateway":"169.254.0.1","interface":0}]}"""));
}
