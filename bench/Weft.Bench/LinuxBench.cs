using System.Diagnostics;
using System.Globalization;
using System.Net;
using Weft.Linux;

namespace Weft.Bench;

/// <summary>
/// <c>weft-bench linux [--n 200]</c>: in a throwaway namespace (wefttest-&lt;pid&gt;-&lt;hex&gt;-bench),
/// creates and deletes N veth pairs and adds and deletes N routes, once through Weft.Linux (one
/// netlink handle) and once through <c>ip -n NS …</c> subprocesses, and prints the median time per
/// operation and the ratio ip/netlink. Needs root; touches nothing outside its namespace.
/// </summary>
public static class LinuxBench
{
    public static int Run(string[] args)
    {
        int n = 200;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--n" && i + 1 < args.Length) n = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else
            {
                Console.Error.WriteLine($"unknown option {args[i]}; usage: weft-bench linux [--n 200]");
                return 2;
            }
        }
        if (n < 1 || n > 60000)
        {
            Console.Error.WriteLine("--n must be between 1 and 60000");
            return 2;
        }

        string name = $"wefttest-{Environment.ProcessId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}-bench";
        NetNs ns;
        try
        {
            ns = NetNs.Create(name);
        }
        catch (KernelException e) when (e.Errno == Errno.EPERM || e.Errno == Errno.EACCES)
        {
            Console.Error.WriteLine("weft-bench linux needs root (it creates a network namespace): run it with sudo");
            return 1;
        }
        Console.CancelKeyPress += (_, _) => NetNs.TryDelete(name);
        try
        {
            using (ns)
            using (var nl = Netlink.Open(ns))
            {
                return Measure(nl, name, n);
            }
        }
        finally
        {
            NetNs.TryDelete(name);
        }
    }

    private static int Measure(Netlink nl, string ns, int n)
    {
        // A device for the routes.
        nl.LinkAddVeth("wb-rt0", "wb-rt1");
        nl.LinkSetUp("wb-rt0");
        nl.LinkSetUp("wb-rt1");
        int dev = nl.LinkByName("wb-rt0").Index;
        nl.AddrAdd(new Address(dev, IpPrefix.Parse("198.18.0.1/24")));
        var gw = IPAddress.Parse("198.18.0.2");
        static IpPrefix Dst(int set, int i) => new(new IPAddress([10, (byte)(set * 100 + i / 256 % 100), (byte)(i % 256), 0]), 24);

        // Warm up both paths (JIT, page cache for the ip binary).
        for (int i = 0; i < 5; i++)
        {
            nl.LinkAddVeth($"wb-w{i}", $"wb-x{i}");
            nl.LinkDel($"wb-w{i}");
            Ip(ns, $"link add wb-y{i} type veth peer name wb-z{i}");
            Ip(ns, $"link del wb-y{i}");
        }

        var sw = new Stopwatch();
        double Time(Action a)
        {
            sw.Restart();
            a();
            return sw.Elapsed.TotalMicroseconds;
        }

        var results = new List<(string Op, double Netlink, double Ip)>();
        var nlAdd = new double[n];
        var nlDel = new double[n];
        var ipAdd = new double[n];
        var ipDel = new double[n];

        for (int i = 0; i < n; i++) nlAdd[i] = Time(() => nl.LinkAddVeth($"wb-a{i}", $"wb-b{i}"));
        for (int i = 0; i < n; i++) nlDel[i] = Time(() => nl.LinkDel($"wb-a{i}"));
        for (int i = 0; i < n; i++) ipAdd[i] = Time(() => Ip(ns, $"link add wb-c{i} type veth peer name wb-d{i}"));
        for (int i = 0; i < n; i++) ipDel[i] = Time(() => Ip(ns, $"link del wb-c{i}"));
        results.Add(("veth pair create", Median(nlAdd), Median(ipAdd)));
        results.Add(("veth pair delete", Median(nlDel), Median(ipDel)));

        for (int i = 0; i < n; i++) nlAdd[i] = Time(() => nl.RouteAdd(new Route { Dst = Dst(0, i), Gateway = gw, Device = dev }));
        for (int i = 0; i < n; i++) nlDel[i] = Time(() => nl.RouteDel(new Route { Dst = Dst(0, i), Gateway = gw, Device = dev }));
        for (int i = 0; i < n; i++) ipAdd[i] = Time(() => Ip(ns, $"route add {Dst(1, i)} via 198.18.0.2 dev wb-rt0"));
        for (int i = 0; i < n; i++) ipDel[i] = Time(() => Ip(ns, $"route del {Dst(1, i)} via 198.18.0.2 dev wb-rt0"));
        results.Add(("route add", Median(nlAdd), Median(ipAdd)));
        results.Add(("route delete", Median(nlDel), Median(ipDel)));

        Console.WriteLine($"weft-bench linux: N={n} per operation, namespace {ns}, median µs per operation");
        Console.WriteLine();
        Console.WriteLine($"| {"operation",-18} | {"Weft.Linux (µs)",15} | {"ip subprocess (µs)",18} | {"ip / netlink",12} |");
        Console.WriteLine($"|{new string('-', 20)}|{new string('-', 17)}|{new string('-', 20)}|{new string('-', 14)}|");
        bool ok = true;
        foreach (var (op, a, b) in results)
        {
            double ratio = b / a;
            ok &= ratio >= 10;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {op,-18} | {a,15:F1} | {b,18:F1} | {ratio,11:F1}× |"));
        }
        Console.WriteLine();
        Console.WriteLine(ok ? "target met: netlink ≥ 10× faster than `ip` for every operation"
                             : "target missed for at least one operation (target: ≥ 10×)");
        return 0;
    }

    private static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static void Ip(string ns, string args)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(ns);
        foreach (var a in args.Split(' ')) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ip -n {ns} {args}: {err.Trim()}");
    }
}
