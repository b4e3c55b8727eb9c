using Microsoft.Win32.SafeHandles;
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
    /// Opens a context whose netlink socket lives in <paramref name="ns"/>: the context is created on
    /// the namespace's dedicated thread and can then be used from any thread.
    /// </summary>
    /// <remarks>Equivalent to: ip netns exec NS nft …</remarks>
    public static NftContext Open(NetNs ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return ns.Run(Open);
    }

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
        catch (NftException e) when (e.Errno == Errno.ENOENT)
        {
            return null;
        }
    }

    /// <summary>
    /// The table's structure without set and map elements (chains, rules, set declarations), or null
    /// when the table does not exist; cheap whatever the sets hold (libnftables fetches no elements).
    /// </summary>
    /// <remarks>Equivalent to: nft -j -t list table FAMILY NAME</remarks>
    public string? TryListTableStructureJson(NftFamily family, string name)
    {
        NftName.Validate(name, nameof(name));
        try
        {
            return Run($"list table {family.Keyword()} {name}",
                NftNative.NFT_CTX_OUTPUT_JSON | NftNative.NFT_CTX_OUTPUT_NUMERIC_PROTO | NftNative.NFT_CTX_OUTPUT_TERSE, dryRun: false);
        }
        catch (NftException e) when (e.Errno == Errno.ENOENT)
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
        catch (NftException e) when (e.Errno is Errno.ENOENT or Errno.EINVAL or 0)
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
            string? memfdPath = null;
            try
            {
                string body = script.TrimEnd('\n');
                if (body.Contains('\n') && !dryRun)
                {
                    // Multi-line: through a memfd, so nft's errors name the line.
                    using SafeFileHandle memfd = ScriptFile(script, out memfdPath);
                    rc = NftNative.nft_run_cmd_from_filename(_handle, memfdPath);
                    errno = Marshal.GetLastPInvokeError();
                }
                else
                {
                    rc = NftNative.nft_run_cmd_from_buffer(_handle, script);
                    errno = Marshal.GetLastPInvokeError();
                }
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
                if (memfdPath is not null)
                {
                    error = error.Replace(memfdPath, "<script>", StringComparison.Ordinal);
                }

                throw new NftException(error, NftException.ErrnoOf(error, errno), script);
            }

            return output;
        }
    }

    public void Dispose() => _handle.Dispose();

    private static SafeFileHandle ScriptFile(string script, out string path)
    {
        int fd = NftNative.memfd_create("weft-nft", NftNative.MFD_CLOEXEC);
        if (fd < 0)
        {
            throw new KernelException(Marshal.GetLastPInvokeError(), "memfd_create");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        RandomAccess.Write(handle, System.Text.Encoding.UTF8.GetBytes(script), 0);
        path = $"/proc/self/fd/{fd}";
        return handle;
    }
}
