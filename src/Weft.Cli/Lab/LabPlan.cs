using Weft.Cli.Cli;

namespace Weft.Cli.Lab;

/// <summary>
/// The names and addresses of one lab, computed from its name alone (no I/O): every namespace
/// and link it creates carries <c>weft</c> in its name, so <c>down</c> can find all of it.
/// <code>
///   weft-lab-NAME-fabric   bridge weft-br0 (the underlay, 198.18.0.0/24)
///   weft-lab-NAME-control  weft-ul0 198.18.0.2   weft-server
///   weft-lab-NAME-cell-K   weft-ul0 198.18.0.(10+K)   weft-agent, the containers' host side
///   weft-lab-NAME-APP-I    eth0 (made by weft-cni)   weft lab serve
/// </code>
/// </summary>
public sealed class LabPlan
{
    public const string DefaultName = "default";
    public const string Prefix = "weft-lab-";
    public const string Bridge = "weft-br0";
    /// <summary>The underlay interface inside the control and cell namespaces.</summary>
    public const string Uplink = "weft-ul0";
    public const string UnderlayCidr = "198.18.0.0/24";
    public const int UnderlayPrefix = 24;
    public const int MaxCells = 200;
    public const string ServerIp = "198.18.0.2";

    public string Name { get; }

    private LabPlan(string name) => Name = name;

    /// <summary>
    /// Validates a lab name: 1–16 characters of a-z and 0-9. No '-': then the namespace prefix
    /// weft-lab-NAME- of one lab never matches another lab's namespaces.
    /// </summary>
    public static LabPlan For(string? name)
    {
        name ??= DefaultName;
        if (!IsValidName(name, 16) || name.Contains('-'))
            throw new CliException($"invalid lab name '{name}'", "use 1–16 characters: lower-case letters and digits (e.g. --name demo)", ExitCodes.Usage);
        return new LabPlan(name);
    }

    /// <summary>App names: 1–24 characters of letters, digits, '-' and '_', starting with a letter or digit.</summary>
    public static void ValidateAppName(string app)
    {
        if (!IsValidName(app, 24, allowUpper: true))
            throw new CliException($"invalid app name '{app}'", "use 1–24 characters: letters, digits, '-' and '_' (e.g. appA)", ExitCodes.Usage);
        // Container namespaces are <lab prefix><app>-<index>: an app called "cell" would name its instances
        // like the cells' namespaces (cell-1, …), so the lab's own words are not app names.
        if (app.ToLowerInvariant() is "cell" or "fabric" or "control")
            throw new CliException($"'{app}' is reserved in a lab", "choose another app name (e.g. appA)", ExitCodes.Usage);
    }

    private static bool IsValidName(string s, int max, bool allowUpper = false)
    {
        if (s.Length is 0 || s.Length > max || !char.IsAsciiLetterOrDigit(s[0])) return false;
        foreach (var c in s)
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-' || (allowUpper && (char.IsAsciiLetterUpper(c) || c == '_'))))
                return false;
        return true;
    }

    public string NetnsPrefix => Prefix + Name + "-";
    public string FabricNetns => NetnsPrefix + "fabric";
    public string ControlNetns => NetnsPrefix + "control";
    public static string CellName(int k) => "cell-" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
    public string CellNetns(int k) => NetnsPrefix + CellName(k);
    public string ContainerNetns(string app, int index) => NetnsPrefix + app + "-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The fabric's port for a namespace's uplink: weft-p-ctl, weft-p-c1, …</summary>
    public static string FabricPort(int cell) => cell == 0 ? "weft-p-ctl" : "weft-p-c" + cell.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string CellUnderlayIp(int k)
    {
        if (k < 1 || k > MaxCells) throw new ArgumentOutOfRangeException(nameof(k));
        return "198.18.0." + (10 + k).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public string RunDir => Path.Combine(RunRoot, Name);
    public string StateFile => Path.Combine(RunDir, "lab.json");
    /// <summary>Outside the run directory, so it can be held while the run directory is removed.</summary>
    public string LockFile => Path.Combine(RunRoot, "." + Name + ".lock");
    public string ServerDir => Path.Combine(RunDir, "server");
    public string CellStateDir(int k) => Path.Combine(RunDir, CellName(k));
    public string LogDir => Path.Combine(RunDir, "logs");
    public string ProfileName => "lab-" + Name;

    /// <summary><c>/run/weft/lab</c>, or <c>$WEFT_LAB_ROOT</c>.</summary>
    public static string RunRoot => Environment.GetEnvironmentVariable("WEFT_LAB_ROOT") is { Length: > 0 } r ? r : "/run/weft/lab";

    /// <summary>Spreads <paramref name="count"/> new instances over cells: the given one, else round-robin from the least loaded.</summary>
    public static int[] PlaceInstances(int count, int cells, int? cell, IReadOnlyList<int> existingPerCell)
    {
        var result = new int[count];
        if (cell is { } c)
        {
            Array.Fill(result, c);
            return result;
        }
        var load = new int[cells + 1];
        for (var k = 1; k <= cells; k++) load[k] = k - 1 < existingPerCell.Count ? existingPerCell[k - 1] : 0;
        for (var i = 0; i < count; i++)
        {
            var best = 1;
            for (var k = 2; k <= cells; k++) if (load[k] < load[best]) best = k;
            result[i] = best;
            load[best]++;
        }
        return result;
    }
}
