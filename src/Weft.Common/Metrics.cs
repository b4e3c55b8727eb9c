using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Weft.Common;

/// <summary>
/// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
/// text exposition format 0.0.4 (what <c>GET /metrics</c> serves). Thread-safe, allocation-light
/// on the hot path (one dictionary lookup per observation).
/// </summary>
public sealed class MetricsRegistry
{
    private readonly List<Metric> _metrics = [];

    public Counter CreateCounter(string name, string help, params string[] labelNames) => Add(new Counter(name, help, labelNames));
    public Gauge CreateGauge(string name, string help, params string[] labelNames) => Add(new Gauge(name, help, labelNames));
    public Histogram CreateHistogram(string name, string help, double[]? buckets = null, params string[] labelNames)
        => Add(new Histogram(name, help, buckets ?? Weft.Common.Histogram.DefaultLatencyBuckets, labelNames));

    /// <summary>A gauge whose value is read when the registry is rendered.</summary>
    public void CreateGaugeCallback(string name, string help, Func<double> read) => Add(new CallbackGauge(name, help, read));

    private T Add<T>(T metric) where T : Metric
    {
        lock (_metrics)
        {
            if (_metrics.Any(m => m.Name == metric.Name)) throw new InvalidOperationException($"metric {metric.Name} registered twice");
            _metrics.Add(metric);
        }
        return metric;
    }

    /// <summary>Renders every metric in the Prometheus text format.</summary>
    public string Render()
    {
        var sb = new StringBuilder(4096);
        Metric[] metrics;
        lock (_metrics) metrics = [.. _metrics];
        foreach (var m in metrics)
        {
            sb.Append("# HELP ").Append(m.Name).Append(' ').Append(EscapeHelp(m.Help)).Append('\n');
            sb.Append("# TYPE ").Append(m.Name).Append(' ').Append(m.Type).Append('\n');
            m.Render(sb);
        }
        return sb.ToString();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static string EscapeHelp(string s) => s.Replace("\\", "\\\\").Replace("\n", "\\n");

    internal static string EscapeLabel(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    internal static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN"
        : v.ToString("R", CultureInfo.InvariantCulture);

    internal static void AppendLabels(StringBuilder sb, string[] names, string[] values, string? extraName = null, string? extraValue = null)
    {
        if (names.Length == 0 && extraName is null) return;
        sb.Append('{');
        for (var i = 0; i < names.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(names[i]).Append("=\"").Append(EscapeLabel(values[i])).Append('"');
        }
        if (extraName is not null)
        {
            if (names.Length > 0) sb.Append(',');
            sb.Append(extraName).Append("=\"").Append(extraValue).Append('"');
        }
        sb.Append('}');
    }
}

public abstract class Metric(string name, string help, string[] labelNames)
{
    public string Name { get; } = name;
    public string Help { get; } = help;
    public string[] LabelNames { get; } = labelNames;
    internal abstract string Type { get; }
    internal abstract void Render(StringBuilder sb);

    protected static string Key(string[] values) => values.Length == 1 ? values[0] : string.Join('\u0001', values);

    protected void CheckLabels(string[] values)
    {
        if (values.Length != LabelNames.Length)
            throw new ArgumentException($"metric {Name} takes {LabelNames.Length} labels, got {values.Length}");
    }
}

/// <summary>A monotonically increasing count.</summary>
public sealed class Counter : Metric
{
    private readonly ConcurrentDictionary<string, Cell> _cells = new();
    internal Counter(string name, string help, string[] labelNames) : base(name, help, labelNames) { }
    internal override string Type => "counter";

    public void Inc(params string[] labels) => Add(1, labels);

    public void Add(double amount, params string[] labels)
    {
        CheckLabels(labels);
        var cell = _cells.GetOrAdd(Key(labels), _ => new Cell(labels));
        cell.Add(amount);
    }

    public double Value(params string[] labels) => _cells.TryGetValue(Key(labels), out var c) ? c.Value : 0;

    internal override void Render(StringBuilder sb)
    {
        foreach (var c in _cells.Values.OrderBy(c => Key(c.Labels), StringComparer.Ordinal))
        {
            sb.Append(Name);
            MetricsRegistry.AppendLabels(sb, LabelNames, c.Labels);
            sb.Append(' ').Append(MetricsRegistry.Format(c.Value)).Append('\n');
        }
    }

    private sealed class Cell(string[] labels)
    {
        private double _value;
        public string[] Labels { get; } = labels;
        public double Value => Volatile.Read(ref _value);
        public void Add(double v)
        {
            double initial, computed;
            do { initial = _value; computed = initial + v; }
            while (Interlocked.CompareExchange(ref _value, computed, initial) != initial);
        }
    }
}

/// <summary>A value that goes up and down.</summary>
public sealed class Gauge : Metric
{
    private readonly ConcurrentDictionary<string, (string[] Labels, double Value)> _cells = new();
    internal Gauge(string name, string help, string[] labelNames) : base(name, help, labelNames) { }
    internal override string Type => "gauge";

    public void Set(double value, params string[] labels)
    {
        CheckLabels(labels);
        _cells[Key(labels)] = (labels, value);
    }

    public double Value(params string[] labels) => _cells.TryGetValue(Key(labels), out var c) ? c.Value : 0;

    internal override void Render(StringBuilder sb)
    {
        foreach (var c in _cells.Values.OrderBy(c => Key(c.Labels), StringComparer.Ordinal))
        {
            sb.Append(Name);
            MetricsRegistry.AppendLabels(sb, LabelNames, c.Labels);
            sb.Append(' ').Append(MetricsRegistry.Format(c.Value)).Append('\n');
        }
    }
}

internal sealed class CallbackGauge(string name, string help, Func<double> read) : Metric(name, help, [])
{
    internal override string Type => "gauge";
    internal override void Render(StringBuilder sb)
    {
        double v;
        try { v = read(); } catch { v = double.NaN; }
        sb.Append(Name).Append(' ').Append(MetricsRegistry.Format(v)).Append('\n');
    }
}

/// <summary>Observations counted into cumulative buckets (e.g. request latency in seconds).</summary>
public sealed class Histogram : Metric
{
    public static readonly double[] DefaultLatencyBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly double[] _bounds;
    private readonly ConcurrentDictionary<string, Series> _series = new();

    internal Histogram(string name, string help, double[] bounds, string[] labelNames) : base(name, help, labelNames)
    {
        if (bounds.Length == 0 || bounds.Zip(bounds.Skip(1)).Any(p => p.First >= p.Second))
            throw new ArgumentException("histogram buckets must be strictly increasing", nameof(bounds));
        _bounds = bounds;
    }

    internal override string Type => "histogram";

    public void Observe(double value, params string[] labels)
    {
        CheckLabels(labels);
        var s = _series.GetOrAdd(Key(labels), _ => new Series(labels, _bounds.Length));
        var i = Array.BinarySearch(_bounds, value);
        if (i < 0) i = ~i; // first bound >= value
        lock (s)
        {
            s.Buckets[i]++;
            s.Count++;
            s.Sum += value;
        }
    }

    public long Count(params string[] labels) => _series.TryGetValue(Key(labels), out var s) ? s.Count : 0;

    internal override void Render(StringBuilder sb)
    {
        foreach (var s in _series.Values.OrderBy(s => Key(s.Labels), StringComparer.Ordinal))
        {
            long[] buckets; long count; double sum;
            lock (s) { buckets = (long[])s.Buckets.Clone(); count = s.Count; sum = s.Sum; }
            long cumulative = 0;
            for (var i = 0; i < _bounds.Length; i++)
            {
                cumulative += buckets[i];
                sb.Append(Name).Append("_bucket");
                MetricsRegistry.AppendLabels(sb, LabelNames, s.Labels, "le", MetricsRegistry.Format(_bounds[i]));
                sb.Append(' ').Append(cumulative).Append('\n');
            }
            sb.Append(Name).Append("_bucket");
            MetricsRegistry.AppendLabels(sb, LabelNames, s.Labels, "le", "+Inf");
            sb.Append(' ').Append(count).Append('\n');
            sb.Append(Name).Append("_sum");
            MetricsRegistry.AppendLabels(sb, LabelNames, s.Labels);
            sb.Append(' ').Append(MetricsRegistry.Format(sum)).Append('\n');
            sb.Append(Name).Append("_count");
            MetricsRegistry.AppendLabels(sb, LabelNames, s.Labels);
            sb.Append(' ').Append(count).Append('\n');
        }
    }

    private sealed class Series(string[] labels, int n)
    {
        public string[] Labels { get; } = labels;
        public long[] Buckets { get; } = new long[n + 1];
        public long Count;
        public double Sum;
    }
}
