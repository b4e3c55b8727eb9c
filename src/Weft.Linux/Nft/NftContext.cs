using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Weft.Linux.Nft;

/// <summary>
/// A libnftables context (<c>nft_ctx*</c>) with buffered output and error text.
/// <para>
/// Its netlink socket is opened by <c>nft_ctx_new</c> in the network namespace of the thread that
/// creates the context, and stays there: a context opened inside a namespace programs that
/// namespace from any thread. Calls on one context are serialised (libnftables is not thread-safe).
/// </para>
/// <para>
/// Every <see cref="Apply(string)"/> is one nftables transaction: libnftables parses and evaluates
/// the whole buffer, sends it as one netlink batch, and the kernel commits all of it or none of it.
/// </para>
/// </summary>
public sealed partial class NftContext : IDisposable
{
    private readonly NftContextHandle _handle;
    private readonly Lock _lock = new();
    private readonly uint _baseFlags;

    private NftContext(NftContextHandle handle)
    {
        _handle = handle;
        NftNative.nft_ctx_buffer_output(_handle);
        NftNative.nft_ctx_buffer_error(_handle);
        // Scripts never read files: no include search path.
        NftNative.nft_ctx_clear_include_paths(_handle);
        _baseFlags = NftNative.nft_ctx_output_get_flags(_handle);
    }

    /// <summary>Opens a context in the calling thread's network namespace.</summary>
    public static NftContext Open()
    {
        nint ctx;
        try
        {
            ctx = NftNative.nft_ctx_new(NftNative.NFT_CTX_DEFAULT);
        }
        catch (DllNotFoundException e)
        {
            throw new InvalidOperationException("libnftables.so.1 not found: install libnftables1 (apt-get install libnftables1)", e);
        }

        if (ctx == nint.Zero)
        {
            throw new InvalidOperationException("nft_ctx_new failed");
        }

        return new NftContext(new NftContextHandle(ctx));
    }

    /// <summary>
    /// Opens a context whose netlink socket lives in the network namespace at <paramref name="netnsPath"/>
    /// (e.g. /run/netns/NAME): the context is created on a short-lived thread that setns()es there.
    /// </summary>
    internal static NftContext OpenInNamespace(string netnsPath) => NsThread.Run(netnsPath, Open);

    /// <summary>
    /// Applies <paramref name="script"/> (nft syntax, any number of commands) as one transaction.
    /// Throws <see cref="NftException"/> with nft's message when anything is refused; then nothing
    /// of the script is applied.
    /// </summary>
    /// <remarks>Equivalent to: nft -f FILE</remarks>
    public void Apply(string script) => Run(script, NftNative.NFT_CTX_OUTPUT_HANDLE, dryRun: false);

    /// <summary>Applies a rendered batch as one transaction (see <see cref="Apply(string)"/>).</summary>
    public void Apply(NftBatch batch) => Apply(batch.Render());

    /// <summary>
    /// Parses and evaluates <paramref name="script"/> against the current ruleset without committing it.
    /// Throws <see cref="NftException"/> as <see cref="Apply(string)"/> would for errors nft itself
    /// finds (syntax, types, missing objects).
    /// </summary>
    /// <remarks>Equivalent to: nft -c -f FILE</remarks>
    public void Check(string script) => Run(script, 0, dryRun: true);

    /// <summary>Runs commands and returns their text output (e.g. <c>list ruleset</c>).</summary>
    /// <remarks>Equivalent to: nft COMMANDS</remarks>
    public string Run(string commands) => Run(commands, 0, dryRun: false);

    /// <summary>Runs commands with JSON output and returns it (e.g. <c>list table inet weft</c>); protocols are numeric.</summary>
    /// <remarks>Equivalent to: nft -j COMMANDS</remarks>
    public string RunJson(string commands) => Run(commands, NftNative.NFT_CTX_OUTPUT_JSON | NftNative.NFT_CTX_OUTPUT_NUMERIC_PROTO, dryRun: false);

    /// <summary>
    /// The table as nft's JSON (<c>{"nftables":[{"metainfo":…},{"table":…},{"set":…},…]}</c>).
    /// Throws <see cref="NftException"/> with ENOENT when there is no such table.
    /// </summary>
    /// <remarks>Equivalent to: nft -j list table FAMILY NAME</remarks>
    public string ListTableJson(NftFamily family, string name)
    {
        NftName.Validate(name, nameof(name));
        return RunJson($"list table {family.Keyword()} {name}");
    }

    /// <summary>Like <see cref="ListTableJson"/>, but returns null when the table does not exist.</summary>
    public string? TryListTableJson(NftFamily family, string name)
    {
        try
        {
            return ListTableJson(family, name);
        }
        catch (NftException e) when (e.Errno == NftException.ENOENT)
        {
            return null;
        }
    }

    /// <summary>The elements of one set or map as the kernel holds them now.</summary>
    /// <remarks>Equivalent to: nft -j list set|map FAMILY TABLE NAME</remarks>
    public IReadOnlyList<NftElement> ListElements(NftFamily family, string table, string setOrMap)
    {
        NftName.Validate(table, nameof(table));
        NftName.Validate(setOrMap, nameof(setOrMap));
        string json;
        try
        {
            json = RunJson($"list set {family.Keyword()} {table} {setOrMap}");
        }
        catch (NftException e) when (e.Errno is NftException.ENOENT or NftException.EINVAL or 0)
        {
            json = RunJson($"list map {family.Keyword()} {table} {setOrMap}");
        }

        return NftJson.ReadElements(json, setOrMap);
    }

    private string Run(string script, uint flags, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(script);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            NftNative.nft_ctx_output_set_flags(_handle, _baseFlags | flags);
            if (dryRun)
            {
                NftNative.nft_ctx_set_dry_run(_handle, true);
            }

            int rc;
            int errno;
            try
            {
                rc = NftNative.nft_run_cmd_from_buffer(_handle, script);
                errno = Marshal.GetLastPInvokeError();
            }
            finally
            {
                if (dryRun)
                {
                    NftNative.nft_ctx_set_dry_run(_handle, false);
                }
            }

            string output = Marshal.PtrToStringUTF8(NftNative.nft_ctx_get_output_buffer(_handle)) ?? "";
            string error = Marshal.PtrToStringUTF8(NftNative.nft_ctx_get_error_buffer(_handle)) ?? "";
            if (rc != 0)
            {
                // errno is only meaningful when the kernel refused the batch; libnftables reports
                // those as "Could not process rule: <strerror>".
                bool kernel = error.Contains("Could not process rule", StringComparison.Ordinal)
                    || error.Contains("No such file or directory", StringComparison.Ordinal);
                throw new NftException(error, kernel ? errno : 0, script);
            }

            return output;
        }
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>Runs a function on a fresh OS thread inside a network namespace; the thread exits afterwards.</summary>
    private static class NsThread
    {
        private const int CLONE_NEWNET = 0x40000000;

        public static T Run<T>(string netnsPath, Func<T> func)
        {
            T? result = default;
            ExceptionDispatchInfo? error = null;
            var thread = new Thread(() =>
            {
                try
                {
                    using var ns = File.OpenHandle(netnsPath, FileMode.Open, FileAccess.Read);
                    if (setns((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
                    {
                        throw new IOException($"setns {netnsPath}: errno {Marshal.GetLastPInvokeError()}");
                    }

                    result = func();
                }
                catch (Exception e)
                {
                    error = ExceptionDispatchInfo.Capture(e);
                }
            }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "weft-nft-netns" };
            thread.Start();
            thread.Join();
            error?.Throw();
            return result!;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
