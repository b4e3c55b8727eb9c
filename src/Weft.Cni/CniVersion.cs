namespace Weft.Cni;

/// <summary>The CNI spec versions weft-cni speaks, and the rules that depend on them.</summary>
public static class CniVersion
{
    /// <summary>The newest version: the one VERSION answers in and STATUS/GC require.</summary>
    public const string Current = "1.1.0";

    /// <summary>Every version accepted in a config's <c>cniVersion</c> (results are written in that version's format).</summary>
    public static readonly string[] Supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    public static bool IsSupported(string version) => Array.IndexOf(Supported, version) >= 0;

    /// <summary>Compares two dotted versions numerically ("0.4.0" &lt; "1.0.0"); non-numeric parts compare as 0.</summary>
    public static int Compare(string a, string b)
    {
        var pa = a.Split('.');
        var pb = b.Split('.');
        for (var i = 0; i < Math.Max(pa.Length, pb.Length); i++)
        {
            var x = i < pa.Length && int.TryParse(pa[i], out var vx) ? vx : 0;
            var y = i < pb.Length && int.TryParse(pb[i], out var vy) ? vy : 0;
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }

        return 0;
    }

    /// <summary>Results before 1.0.0 carry <c>"version":"4"</c> on every IP.</summary>
    public static bool ResultHasIpVersion(string version) => Compare(version, "1.0.0") < 0;

    /// <summary>CHECK exists from 0.4.0.</summary>
    public static bool HasCheck(string version) => Compare(version, "0.4.0") >= 0;

    /// <summary>STATUS and GC exist from 1.1.0.</summary>
    public static bool HasStatusAndGc(string version) => Compare(version, "1.1.0") >= 0;
}
